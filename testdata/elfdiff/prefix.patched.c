// SPDX-License-Identifier: GPL-2.0
/*
 * Functions with padding before their symbol, as 6.12 kernels build them
 * (x86-64 CALL_PADDING: 16 NOPs; arm64 CALL_OPS: two NOPs for the ops
 * pointer), in the x86_64-612 and arm64-612 objects: scale() changes,
 * add() does not, and untraced() loses its padding and entry NOPs.
 */
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

__attribute__((patchable_function_entry(0, 0)))
int untraced(int x)
{
	return x + counter;
}

static int __init prefix_init(void)
{
	return add(1, counter);
}

int (*prefix_initcall)(void) = prefix_init;
