// SPDX-License-Identifier: GPL-2.0
/*
 * A patch that only adds lines near the top of the file moves __LINE__ for
 * everything below: might_sleep()'s line argument, the line field of the
 * WARN_ON() entry in __bug_table and a printk of __LINE__. That is noise.
 * The one real change is in fixed().
 */
#include "kernel.h"

int checked(int x)
{
	might_sleep();
	WARN_ON(x > 10);
	return x * 2;
}

int traced(int x)
{
	if (x)
		pr_info("at line %d\n", __LINE__);
	return x;
}

int fixed(int x)
{
	return x - 1;
}
