// SPDX-License-Identifier: GPL-2.0
/*
 * The other object with a static "lock" (see lockown.*): the patch makes
 * peek() read it, which no old code of this object did. Its lock must never
 * be bound through take()'s old code, which refers to the other object's.
 */
#include "kernel.h"

static int lock;

void set(int v)
{
	lock = v;
}

int get(void)
{
	return lock;
}

int peek(void)
{
	return lock;
}
