// SPDX-License-Identifier: GPL-2.0
/*
 * A changed function calls an unchanged static one: the update's new code
 * must reach the running kernel's copy, which only run-pre matching of the
 * caller's old code can find (kallsyms may hold several "scale").
 */
#include "kernel.h"

static int limit = 40;

static noinline int scale(int x)
{
	return x * 3 + limit;
}

int use(int x)
{
	return scale(x) + scale(x + 1);
}
