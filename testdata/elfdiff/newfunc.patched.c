// SPDX-License-Identifier: GPL-2.0
/* The patch adds a helper before the others; caller() uses it. */
#include "kernel.h"

extern int clamp_ext(int x);

static noinline int helper(int x)
{
	if (x > 100)
		return clamp_ext(x);
	return x;
}

int first(int x)
{
	return x + 1;
}

int caller(int x)
{
	return first(helper(x)) * 2;
}
