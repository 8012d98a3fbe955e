// SPDX-License-Identifier: GPL-2.0
/* With crossdef: calls the helper that crossdef's fix adds. */
#include "kernel.h"

extern int cd_helper(int x);

int cu_main(int x)
{
	return cd_helper(x) - 1;
}
