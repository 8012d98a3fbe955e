// SPDX-License-Identifier: GPL-2.0
/* With crossuse: a fix in two files, one adding a global helper the other calls. */
#include "kernel.h"

int cd_user(int x)
{
	return x + 1;
}
