// SPDX-License-Identifier: GPL-2.0
/*
 * A static's initializer changes from zero to non-zero: the compiler moves
 * it from .bss to .data. That is a data change (data-changed), never "no
 * change": the running kernel keeps 0. limit moves the other way.
 */
#include "kernel.h"

static int threshold = 1;
static int limit;

int over(int x)
{
	return x > threshold && x < limit;
}

void set_limits(int t, int l)
{
	threshold = t;
	limit = l;
}
