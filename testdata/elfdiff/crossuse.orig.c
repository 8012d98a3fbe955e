// SPDX-License-Identifier: GPL-2.0
/* With crossdef: calls the helper that crossdef's fix adds. */
#include "kernel.h"

int cu_main(int x)
{
	return x - 1;
}
