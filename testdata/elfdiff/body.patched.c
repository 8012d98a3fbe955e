// SPDX-License-Identifier: GPL-2.0
/* A body-only fix: scale() multiplies by the wrong factor. */
#include "kernel.h"

int counter;

int add(int a, int b)
{
	return a + b;
}

int scale(int x)
{
	counter++;
	return x * 5;
}

int keep(int x)
{
	return add(x, 1) + counter;
}
