// SPDX-License-Identifier: GPL-2.0
/* Functions a patch changes, before the patch. */
#include "kernel.h"

int counter;

noinline int report(int x)
{
	return x + counter;
}

noinline int noisy(int x)
{
	return x * 3 + counter;
}

noinline int skipped(int x)
{
	return x - counter;
}
