// SPDX-License-Identifier: GPL-2.0
/*
 * The patch makes caller() call notsupp(), a static function of this
 * object that no changed function called before, and that a kernel may
 * have namesakes of (3 notsupp_get_next_key in Debian's 6.1): the update
 * binds it through run-pre matching of notsupp() itself, as a helper that
 * is matched and never replaced.
 */
#include "kernel.h"

struct ops {
	int (*op)(void);
};

static noinline int notsupp(void)
{
	return -95;
}

const struct ops table = { .op = notsupp };

int a, b, c;

int caller(int x)
{
	*(volatile int *)&a = x;
	*(volatile int *)&b = x;
	*(volatile int *)&c = x;
	return x;
}
