// SPDX-License-Identifier: GPL-2.0
/*
 * empty_hook() is too short for a trampoline after the ftrace site (x86-64:
 * 5-byte call + 5-byte jmp; arm64: 8 bytes of NOPs + 16 bytes): refused.
 */
#include "kernel.h"

int hook_calls;

void empty_hook(void)
{
	hook_calls++;
}

int long_enough(int x)
{
	return x * hook_calls + 54321;
}
