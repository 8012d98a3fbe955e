// SPDX-License-Identifier: GPL-2.0
/*
 * Changed code that calls an unchanged compiler clone: scale() is only
 * ever called with mode 3, so gcc specializes it (scale.constprop.0) and
 * the new code of first() calls the running kernel's clone. Built as
 * clonecall.running.o with the kernel's own flags (the same clone), and as
 * clonecall.noipa.o without interprocedural constant propagation: a kernel
 * build that cloned differently, whose scale takes other arguments.
 */
#include "kernel.h"

static noinline int scale(int mode, int v)
{
	int i, r = v;

	for (i = 0; i < mode + 3; i++)
		r = r * 31 + mode;
	return r;
}

int first(int v)
{
	return scale(3, v) + 1;
}

int second(int v)
{
	return scale(3, v + 1);
}
