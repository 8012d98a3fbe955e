// SPDX-License-Identifier: GPL-2.0
/*
 * A static branch as the first statement of a function puts its jump label
 * site right after the ftrace site, where the trampoline goes: early() must
 * be refused (trampoline-site). late() tests the same key only after code
 * that fills the trampoline's window, and is carried.
 */
#include "kernel.h"

struct static_key key_t;
int slow(int x);
int a, b, c;

int early(int x)
{
	if (static_key_false(&key_t))
		return slow(x);
	return x + 1;
}

int late(int x)
{
	*(volatile int *)&a = x;
	*(volatile int *)&b = x;
	*(volatile int *)&c = x;
	if (static_key_false(&key_t))
		return slow(x);
	return x + 1;
}
