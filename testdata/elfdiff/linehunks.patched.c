// SPDX-License-Identifier: GPL-2.0
/*
 * Two hunks move lines by different amounts: 2 lines added at the top, 3
 * more in the middle, so lines below the middle move by 5. Each __LINE__
 * argument must move by the shift of its own region (noise); bottom_tune()
 * changes a constant (40 -> 42) by the shift of the other region: a real
 * change.
 */
#include "kernel.h"

/* Hunk 1. */

extern void note_line(int line);
extern int set_limit(struct super_block *sb, int limit);

void top(struct super_block *sb)
{
	fs_error(sb, -5, "top");
}

void top_mark(void)
{
	note_line(__LINE__);
}

/*
 * Hunk 2.
 */
void bottom(struct super_block *sb)
{
	fs_error(sb, -5, "bottom");
}

void bottom_mark(void)
{
	note_line(__LINE__);
}

int bottom_tune(struct super_block *sb)
{
	return set_limit(sb, 42);
}
