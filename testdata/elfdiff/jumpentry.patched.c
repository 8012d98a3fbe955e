// SPDX-License-Identifier: GPL-2.0
/*
 * The only change is to a function without an ftrace call site: the
 * update replaces it by a direct jump over its first instructions
 * (patchgen: a KSPLICE_SITE_ENTRY_JUMP site, method "jump").
 */
#include "kernel.h"

#ifdef __x86_64__
#define kernel_notrace __attribute__((__no_instrument_function__))
#else
#define kernel_notrace __attribute__((__patchable_function_entry__(0, 0)))
#endif

int kernel_notrace plain(int x, int y)
{
	if (x > y)
		return x * 3 + y * 7 + 2;
	return y * 11 - x + 2;
}
