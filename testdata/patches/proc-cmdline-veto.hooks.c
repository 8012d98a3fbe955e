// SPDX-License-Identifier: GPL-2.0
/*
 * A hook file with one hook only, which refuses: applied with
 * proc-cmdline-string.diff, the update must be refused by its own
 * pre_apply hook and leave the kernel as it was. The other three hooks are
 * absent, which the update module's weak references must allow.
 */
#include <linux/errno.h>

int ksplice_hook_pre_apply(void)
{
	return -EBUSY;
}
