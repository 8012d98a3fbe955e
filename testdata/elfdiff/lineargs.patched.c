// SPDX-License-Identifier: GPL-2.0
/*
 * __LINE__ passed to a subsystem's own error helpers (fs_error() passes
 * __func__ and __LINE__, FS_ASSERT() __FILE__ and __LINE__, note_line()
 * only the line): a patch that adds lines near the top moves them all by
 * the same amount, which is noise. In tune() the patch changes a constant
 * argument (x + 5 -> x + 6) by a different amount: a real change. In
 * fs_fail() it changes the error passed next to __func__ and __LINE__
 * (-EIO -> -EROFS): a real change too, though the same call passes a line.
 */
#include "kernel.h"

/*
 * Three lines added by the patch.
 */

extern void note_line(int line);
extern int set_limit(struct super_block *sb, int limit);

int fs_check(struct super_block *sb, int err)
{
	if (err)
		fs_error(sb, err, "bad block %d", err);
	return err;
}

void fs_verify(struct super_block *sb, int n)
{
	FS_ASSERT(sb, n > 0);
}

void marked(void)
{
	note_line(__LINE__);
}

void fs_fail(struct super_block *sb)
{
	fs_error(sb, -30, "I/O error");
}

int tune(struct super_block *sb)
{
	return set_limit(sb, 6);
}
