// SPDX-License-Identifier: GPL-2.0
/*
 * Exports as Linux 6.5 and later (Debian's 6.12) emit them: one
 * .export_symbol section per object, an entry per export labelled
 * __export_symbol_NAME: the license and the namespace as strings, then,
 * 8-aligned, the exported symbol's address. The patched half adds an
 * export before the others (every later entry moves), moves one into a
 * namespace and drops another; the export of first() stays as it was.
 */
#include "kernel.h"

#define EXPORT_612(sym, license, ns)					\
	extern typeof(sym) sym;						\
	asm(".section \".export_symbol\",\"a\"\n"			\
	    "__export_symbol_" #sym ":\n"				\
	    ".asciz \"" license "\"\n"					\
	    ".ascii \"" ns "\\0\"\n"					\
	    ".balign 8\n"						\
	    ".quad " #sym "\n"						\
	    ".previous\n")

int first(int x)
{
	return x + 1;
}
EXPORT_612(first, "", "");

int second(int x)
{
	return x * 2;
}
EXPORT_612(second, "GPL", "");

int third(int x)
{
	return x - 3;
}
EXPORT_612(third, "GPL", "");
