// SPDX-License-Identifier: GPL-2.0
/*
 * A jump label whose target is the instruction right after its site: the
 * branch is a no-op either way. Here the site ends spin_stop(), in a text
 * section shared by several functions (as .spinlock.text, .sched.text and
 * .noinstr.text are), so its target is whatever function follows; the
 * patch adds spin_new() after it, and the target "changes" from spin_last()
 * to spin_new(): noise. spin_new() is new.
 */
#include "kernel.h"

#define __lockfunc	__section(".spinlock.text") noinline

struct static_key spin_debug;
extern void spin_note(int *p);

__lockfunc __noreturn void spin_stop(int *p)
{
	spin_note(p);
	atomic_inc(p);
	asm goto("1:\t" NOP_INSN "\n"
		 ".pushsection __jump_table,\"aw\"\n"
		 "\t.balign 8\n"
		 "\t.long 1b - .\n"
		 "\t.long %l[l_yes] - .\n"
		 "\t.quad %c0 - .\n"
		 ".popsection"
		 : : "i"(&spin_debug) : : l_yes);
	__builtin_unreachable();
l_yes:
	__builtin_unreachable();
}

__lockfunc int spin_new(int *p)
{
	atomic_inc(p);
	return *p + 1;
}

__lockfunc int spin_last(int *p)
{
	atomic_inc(p);
	return *p;
}
