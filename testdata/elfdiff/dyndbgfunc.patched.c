// SPDX-License-Identifier: GPL-2.0
/*
 * A pr_debug() descriptor's function field points at its function's
 * __func__.N, and so does the function's own code when it also passes
 * __func__ (as cpufreq_online() of 6.1 does). The patch fixes online(): its
 * descriptor is carried, and the module loader relocates the descriptor
 * when it loads the update, before run-pre matching could bind __func__.N
 * through the old code: the update must carry its own copy of __func__.N.
 */
#include "kernel.h"

extern int scale_in(int x);
extern void report(const char *who, int x);

int online(int x)
{
	x = scale_in(x);
	if (x < 0)
		report(__func__, x);
	pr_debug("online %d\n", x);
	return x + 1;
}
