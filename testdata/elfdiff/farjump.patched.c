// SPDX-License-Identifier: GPL-2.0
/*
 * Direct jump windows on arm64 beyond "b"'s +-128 MiB: where a function
 * allows it, the window is 12 bytes (adrp x16; add x16; br x16), else the
 * one instruction of "b". calls_first() and reads_first() have a
 * relocation (bl, adrp, a :lo12: load) among the instructions after their
 * paciasp: a 12-byte window all the same, the engine checking it against
 * the running code run-pre matched. back_into() branches back to +4: its
 * window is the 4 bytes before. short_one() is 8 bytes long. On x86-64
 * a relocation or a branch target in the first 5 bytes refuses each.
 */
#include "kernel.h"

#ifdef __x86_64__
#define kernel_notrace __attribute__((__no_instrument_function__))
#define unsigned_leaf
#else
#define kernel_notrace __attribute__((__patchable_function_entry__(0, 0)))
/* A leaf without paciasp/autiasp, as without pac-ret+leaf: 8 bytes. */
#define unsigned_leaf __attribute__((__target__("branch-protection=none")))
#endif

extern int helper(int x);
extern int counter;

int kernel_notrace calls_first(int x)
{
	return helper(x) + 2;
}

int kernel_notrace reads_first(void)
{
	return counter + 2;
}

int kernel_notrace unsigned_leaf short_one(int x)
{
	return x + 2;
}

#ifdef __aarch64__
/* gcc sets loops up before their head: the head at +4 takes asm. */
asm(".pushsection .text.back_into,\"ax\",%progbits\n"
    ".globl back_into\n"
    ".type back_into,%function\n"
    "back_into:\n"
    "	mov	x1, #1\n"
    "1:	add	x1, x1, x0\n"
    "	subs	x0, x0, #1\n"
    "	b.ne	1b\n"
    "	mov	x0, x1\n"
    "	ret\n"
    ".size back_into, .-back_into\n"
    ".popsection\n");
#else
int kernel_notrace back_into(int x)
{
	int n = 1;

	do {
		n += x;
	} while (--x);
	return n;
}
#endif
