// SPDX-License-Identifier: GPL-2.0
/*
 * A notrace function has no ftrace call site, through which the engine
 * redirects the calls of a replaced function: changing it is refused
 * (no-ftrace-site). traced() changes as well and is carried.
 */
#include "kernel.h"

#ifdef __x86_64__
#define kernel_notrace __attribute__((__no_instrument_function__))
#else
#define kernel_notrace __attribute__((__patchable_function_entry__(0, 0)))
#endif

int kernel_notrace untraced(int x)
{
	return x * 3 + 1;
}

int traced(int x)
{
	return x * 5 + 1;
}
