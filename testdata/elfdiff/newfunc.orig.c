// SPDX-License-Identifier: GPL-2.0
/* The patch adds a helper before the others; caller() uses it. */
#include "kernel.h"

int first(int x)
{
	return x + 1;
}

int caller(int x)
{
	return first(x) * 2;
}
