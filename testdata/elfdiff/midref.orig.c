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
	return (unsigned long)x;
}
