// SPDX-License-Identifier: GPL-2.0
/*
 * Exception fixups in .fixup, as kernels before 5.17 (x86) and 5.16 (arm64)
 * made them: one __ex_table entry {insn, fixup} per access, its fixup code
 * in the shared .fixup section. The patch makes read_a()'s fixup also clear
 * the value (a longer fixup), which moves read_b()'s fixup in .fixup:
 * read_a() is carried with its piece of .fixup, read_b() is unchanged.
 */
#include "kernel.h"

extern int scale_in(int x);

int read_a(const int *p)
{
	int v = scale_in(0);

	if (get_user_old_zero(v, p))
		return -14;
	return v + 1;
}

int read_b(const int *p)
{
	int v = scale_in(1);

	if (get_user_old(v, p))
		return -14;
	return v + 2;
}
