// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel's inline implies notrace, so an out-of-line copy of an inline
 * function (a syscall's __do_sys_NAME) has no ftrace site to redirect. The
 * patch changes body(), which only api() calls: body() is carried as new
 * code (through_callers) and api() is replaced to call it.
 */
#include "kernel.h"

#ifdef __x86_64__
#define kernel_notrace __attribute__((__no_instrument_function__))
#else
#define kernel_notrace __attribute__((__patchable_function_entry__(0, 0)))
#endif

static noinline kernel_notrace int body(int x)
{
	return x * 7 + 1;
}

int api(int x)
{
	return body(x) + 3;
}
