// SPDX-License-Identifier: GPL-2.0
/*
 * One of two objects of an update that both have a static "lock" (see
 * lockother.*). take()'s old code refers to this object's lock.
 */
#include "kernel.h"

static int lock;

int take(void)
{
	lock += 2;
	return lock;
}
