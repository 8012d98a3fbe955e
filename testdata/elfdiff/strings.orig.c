// SPDX-License-Identifier: GPL-2.0
/*
 * String literals compare by content: hello()'s message grows, which moves
 * bye()'s literal within .rodata.str1.1, but bye() itself is unchanged.
 */
#include "kernel.h"

void hello(int n)
{
	pr_info("hello %d\n", n);
}

void bye(int n)
{
	pr_info("goodbye %d\n", n);
}
