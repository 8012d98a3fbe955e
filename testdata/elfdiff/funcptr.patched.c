// SPDX-License-Identifier: GPL-2.0
/* funcptr.orig.c with both functions changed. */
#include "kernel.h"

int (*published)(int);
int generation;

int handle(int x)
{
	return x + 2;
}

void publish(void)
{
	published = handle;
	generation = 2;
}
