// SPDX-License-Identifier: GPL-2.0
/*
 * A reference into the middle of a function: the patched resume() takes an
 * address inside worker(), so worker() must be carried although it did not
 * change.
 */
#include "kernel.h"

extern int step(int x);

int worker(int x)
{
	int r = step(x);

	return step(r + x) * 3;
}

unsigned long resume(int x)
{
	unsigned long addr;

#ifdef __x86_64__
	asm("movq $worker+8, %0" : "=r"(addr));
#else
	asm("adrp %0, worker+8\n\tadd %0, %0, :lo12:worker+8" : "=r"(addr));
#endif
	return addr + x;
}
