// SPDX-License-Identifier: GPL-2.0
/* Changes to .data..read_mostly and .data.once are refused. */
#include "kernel.h"

int mode __read_mostly = 2;
static bool warned __once_data = true;

int get_mode(void)
{
	if (!warned) {
		warned = true;
		pr_info("mode %d\n", mode);
	}
	return mode;
}
