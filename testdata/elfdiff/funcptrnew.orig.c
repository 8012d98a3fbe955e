// SPDX-License-Identifier: GPL-2.0
/*
 * A changed function that publishes the address of a new function: only
 * the update module has it, so the update must be kept loaded after undo
 * (patchgen's publishes, KSPLICE_UPDATE_KEEP_MODULE).
 */
#include "kernel.h"

int (*published)(int);

int handle(int x)
{
	return x + 1;
}

void publish(void)
{
	published = handle;
}
