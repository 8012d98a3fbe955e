// SPDX-License-Identifier: GPL-2.0
/*
 * Hooks of sys-data-overflowuid.diff: the patch changes the initializer of
 * overflowuid, which the running kernel initialized long ago; the hooks set
 * the live value the patch means and put the old one back on reverse.
 */
#include <linux/highuid.h>
#include <linux/printk.h>

#define KSPLICE_NEW_OVERFLOWUID	65533

static int ksplice_old_overflowuid;

int ksplice_hook_pre_apply(void)
{
	ksplice_old_overflowuid = READ_ONCE(overflowuid);
	return 0;
}

void ksplice_hook_post_apply(void)
{
	WRITE_ONCE(overflowuid, KSPLICE_NEW_OVERFLOWUID);
	pr_info("overflowuid %d -> %d\n", ksplice_old_overflowuid,
		KSPLICE_NEW_OVERFLOWUID);
}

int ksplice_hook_pre_reverse(void)
{
	return 0;
}

void ksplice_hook_post_reverse(void)
{
	WRITE_ONCE(overflowuid, ksplice_old_overflowuid);
}
