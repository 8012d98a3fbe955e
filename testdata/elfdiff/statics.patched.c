// SPDX-License-Identifier: GPL-2.0
/*
 * Static locals are numbered by the compiler (count.0, count.1, ...). The
 * patch adds a function with its own static "count" before the others, which
 * renumbers them; they must be re-paired by the functions that use them.
 */
#include "kernel.h"

int tack(void)
{
	static int count = 9;

	return --count;
}

int tick(void)
{
	static int count;

	return ++count;
}

int tock(void)
{
	static int count = 5;

	count += 2;
	return count;
}
