// SPDX-License-Identifier: GPL-2.0
/*
 * Alternatives' replacements share .altinstr_replacement. The patch makes
 * first()'s replacement longer, which moves second()'s: second() is
 * unchanged all the same (replacements compare piece by piece), first() is
 * changed.
 */
#include "kernel.h"

#ifdef __x86_64__
#define FIRST_NEW	"mfence"
#define FIRST_NEW2	"mfence; mfence"
#define SECOND_OLD	"nop; nop; nop"
#define SECOND_NEW	"sfence"
#else
#define FIRST_NEW	"dmb ish"
#define FIRST_NEW2	"dmb ishst"
#define SECOND_OLD	"nop"
#define SECOND_NEW	"dmb ishld"
#endif

int a, b, c;

int first(int x)
{
	*(volatile int *)&a = x;
	*(volatile int *)&b = x;
	*(volatile int *)&c = x;
	alternative_insn("nop; nop; nop; nop; nop; nop", FIRST_NEW2);
	return x + 1;
}

int second(int x)
{
	*(volatile int *)&a = x;
	*(volatile int *)&b = x;
	*(volatile int *)&c = x;
	alternative_insn(SECOND_OLD, SECOND_NEW);
	return x + 2;
}
