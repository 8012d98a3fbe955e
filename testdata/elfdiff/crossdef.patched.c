// SPDX-License-Identifier: GPL-2.0
/* With crossuse: a fix in two files, one adding a global helper the other calls. */
#include "kernel.h"

noinline int cd_helper(int x)
{
	return x * 3;
}

int cd_user(int x)
{
	return cd_helper(x) + 1;
}
