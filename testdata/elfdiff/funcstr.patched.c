// SPDX-License-Identifier: GPL-2.0
/*
 * clang pools __func__ with the string literals instead of emitting a
 * __func__.N object: here the caller's name is passed as a literal, the
 * only proof in the object that the argument after it is a line. The
 * patch adds lines at the top: both __LINE__ arguments are noise.
 */
#include "kernel.h"

/* Added by the patch. */

extern void note_line(int line);

void named(struct super_block *sb)
{
	__fs_error(sb, "named", __LINE__, -5, "failed");
}

void marked(void)
{
	note_line(__LINE__);
}
