// SPDX-License-Identifier: GPL-2.0
/*
 * Functions without an ftrace call site (notrace, or objects built without
 * -pg, as lib/ and kernel/trace/ are on Debian). The engine diverts such a
 * function by a direct jump over its first instructions, when they allow
 * it: untraced() gets a jump window; looped() branches back to its first
 * instruction and instr_off() is noinstr code, both refused
 * (no-ftrace-site); on x86-64 tiny() is refused too, its return thunk's
 * relocated jump being inside the window. traced() changes as well and
 * is carried.
 */
#include "kernel.h"

#ifdef __x86_64__
#define kernel_notrace __attribute__((__no_instrument_function__))
#else
#define kernel_notrace __attribute__((__patchable_function_entry__(0, 0)))
#endif

int kernel_notrace untraced(int x, int y)
{
	if (x > y)
		return x * 3 + y * 7 + 2;
	return y * 11 - x + 2;
}

int kernel_notrace looped(int *p, int n)
{
	do {
		n += *p++ * 2;
	} while (*p);
	return n;
}

__attribute__((__section__(".noinstr.text")))
int kernel_notrace instr_off(int x, int y)
{
	if (x > y)
		return x * 5 + y * 9 + 2;
	return y * 13 - x + 2;
}

int kernel_notrace tiny(int x)
{
	return x + 2;
}

int traced(int x)
{
	return x * 5 + 2;
}
