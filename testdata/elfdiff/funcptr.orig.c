// SPDX-License-Identifier: GPL-2.0
/*
 * A function that publishes the address of another function of its file,
 * both changed: the update's copy of publish() must store the running
 * kernel's handle(), whose ftrace site reaches the replacement while the
 * update is applied and the old code after undo (patchgen's publishes).
 */
#include "kernel.h"

int (*published)(int);
int generation;

int handle(int x)
{
	return x + 1;
}

void publish(void)
{
	published = handle;
	generation = 1;
}
