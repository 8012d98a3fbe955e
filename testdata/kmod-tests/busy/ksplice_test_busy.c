// SPDX-License-Identifier: GPL-2.0
/*
 * A target for the engine's busy test: a kthread parks inside
 * ksplice_busy_park() until the module parameter "release" is set; then it
 * keeps calling it and stores what it returns in "result" (1 here; 2 once
 * the update built from the same source with KSPLICE_TEST_PATCHED is
 * applied).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/err.h>
#include <linux/kthread.h>
#include <linux/module.h>

static int release;
module_param(release, int, 0644);
MODULE_PARM_DESC(release, "let the thread out of ksplice_busy_park()");

static int result;
module_param(result, int, 0444);
MODULE_PARM_DESC(result, "what ksplice_busy_park() returned last");

static struct task_struct *thread;

static noinline int ksplice_busy_park(void)
{
	while (!READ_ONCE(release) && !kthread_should_stop())
		msleep(20);
#ifdef KSPLICE_TEST_PATCHED
	return 2;
#else
	return 1;
#endif
}

static int ksplice_busy_thread(void *data)
{
	while (!kthread_should_stop()) {
		WRITE_ONCE(result, ksplice_busy_park());
		msleep(20);
	}
	return 0;
}

static int __init ksplice_test_busy_init(void)
{
	thread = kthread_run(ksplice_busy_thread, NULL, "ksplice_busy");
	return PTR_ERR_OR_ZERO(thread);
}

static void __exit ksplice_test_busy_exit(void)
{
	kthread_stop(thread);
}

module_init(ksplice_test_busy_init);
module_exit(ksplice_test_busy_exit);
MODULE_DESCRIPTION("ksplice busy test target");
MODULE_LICENSE("GPL");
