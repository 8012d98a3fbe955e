// SPDX-License-Identifier: GPL-2.0
/*
 * A section elfdiff does not know references a changed function: it cannot
 * be carried, so the update is refused, naming the section.
 */
#include "kernel.h"

int odd(int x)
{
	asm volatile("1:\n"
		     ".pushsection .ksplice_test_sites,\"a\"\n"
		     "\t.long 1b - .\n"
		     ".popsection");
	return x + 2;
}
