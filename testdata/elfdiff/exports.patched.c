// SPDX-License-Identifier: GPL-2.0
/* See exports.orig.c. */
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

int zeroth(int x)
{
	return x;
}
EXPORT_612(zeroth, "GPL", "");

int first(int x)
{
	return x + 1;
}
EXPORT_612(first, "", "");

int second(int x)
{
	return x * 2;
}
EXPORT_612(second, "GPL", "KSPLICE_TEST");

int third(int x)
{
	return x - 3;
}
