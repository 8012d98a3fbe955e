// SPDX-License-Identifier: GPL-2.0
/* funcptrnew.orig.c: publish() now publishes a new function. */
#include "kernel.h"

int (*published)(int);

int handle(int x)
{
	return x + 1;
}

static noinline int handle_checked(int x)
{
	return x > 0 ? x + 1 : 0;
}

void publish(void)
{
	published = handle_checked;
}
