// SPDX-License-Identifier: GPL-2.0
/*
 * A target for the engine's stack check (internal/apply/scan_lab_test.go):
 * writing 1 to "start" makes a kthread ("ksplice_hold") take a mutex and a
 * second one ("ksplice_scan") call ksplice_scan_func(), which calls
 * ksplice_scan_deep() "depth" levels deep, whose last level sleeps in
 * mutex_lock() until 1 is written to "release"; both threads then exit.
 * With "hold_off" 1, ksplice_scan first sleeps outside it until it is 0.
 * While it sleeps, the return address into ksplice_scan_func() is on its
 * stack: below __sched and lock functions (which arm64's
 * stack_trace_save_tsk() leaves out) and, with a depth of 200, below more
 * frames than a stack walk of 128 entries reaches.
 *
 * Built with -DKSPLICE_TEST_PATCHED, ksplice_scan_func() returns 2 more
 * instead of 1: the new code of the update the test generates. Writing
 * anything to "call" stores ksplice_scan_func() in "result".
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/mutex.h>

#ifdef KSPLICE_TEST_PATCHED
#define KSPLICE_TEST_ADD 2
#else
#define KSPLICE_TEST_ADD 1
#endif

static DEFINE_MUTEX(ksplice_scan_mutex);
static DECLARE_COMPLETION(ksplice_held);
static DECLARE_COMPLETION(ksplice_hold_done);
static DECLARE_COMPLETION(ksplice_scan_done);
static bool ksplice_running;

static int depth;
module_param(depth, int, 0644);
MODULE_PARM_DESC(depth, "levels of ksplice_scan_deep() above mutex_lock()");

static int release;
module_param(release, int, 0644);
MODULE_PARM_DESC(release, "1: the holder lets the mutex go");

static int hold_off;
module_param(hold_off, int, 0644);
MODULE_PARM_DESC(hold_off, "1: ksplice_scan sleeps outside ksplice_scan_func() until it is 0");

static int result;
module_param(result, int, 0444);
MODULE_PARM_DESC(result, "what ksplice_scan_func() returned last");

static noinline int ksplice_scan_deep(int n)
{
	int level = n, r;

	if (n <= 0) {
		mutex_lock(&ksplice_scan_mutex);
		mutex_unlock(&ksplice_scan_mutex);
		return 0;
	}
	r = ksplice_scan_deep(n - 1);
	/* In memory across the call: a frame of its own at every level. */
	barrier_data(&level);
	return r + (level > 0);
}

noinline int ksplice_scan_func(void)
{
	return ksplice_scan_deep(READ_ONCE(depth)) + KSPLICE_TEST_ADD;
}

static int ksplice_hold_thread(void *data)
{
	mutex_lock(&ksplice_scan_mutex);
	complete(&ksplice_held);
	while (!READ_ONCE(release))
		msleep(20);
	mutex_unlock(&ksplice_scan_mutex);
	complete(&ksplice_hold_done);
	return 0;
}

static int ksplice_scan_thread(void *data)
{
	/* Asleep outside the function first: a prescan finds it clean. */
	while (READ_ONCE(hold_off))
		msleep(20);
	WRITE_ONCE(result, ksplice_scan_func());
	complete(&ksplice_scan_done);
	return 0;
}

static int start_set(const char *val, const struct kernel_param *kp)
{
	struct task_struct *t;

	if (ksplice_running)
		return -EBUSY;
	WRITE_ONCE(release, 0);
	reinit_completion(&ksplice_held);
	reinit_completion(&ksplice_hold_done);
	reinit_completion(&ksplice_scan_done);
	t = kthread_run(ksplice_hold_thread, NULL, "ksplice_hold");
	if (IS_ERR(t))
		return PTR_ERR(t);
	ksplice_running = true;
	wait_for_completion(&ksplice_held);
	t = kthread_run(ksplice_scan_thread, NULL, "ksplice_scan");
	if (IS_ERR(t)) {
		WRITE_ONCE(release, 1);
		wait_for_completion(&ksplice_hold_done);
		ksplice_running = false;
		return PTR_ERR(t);
	}
	return 0;
}

static const struct kernel_param_ops start_ops = { .set = start_set };
module_param_cb(start, &start_ops, NULL, 0200);
MODULE_PARM_DESC(start, "write 1: park ksplice_scan in mutex_lock() under ksplice_scan_func()");

static int finish_set(const char *val, const struct kernel_param *kp)
{
	if (!ksplice_running)
		return 0;
	WRITE_ONCE(release, 1);
	wait_for_completion(&ksplice_hold_done);
	wait_for_completion(&ksplice_scan_done);
	ksplice_running = false;
	return 0;
}

static const struct kernel_param_ops finish_ops = { .set = finish_set };
module_param_cb(finish, &finish_ops, NULL, 0200);
MODULE_PARM_DESC(finish, "write 1: let the threads out and wait for them");

static int call_set(const char *val, const struct kernel_param *kp)
{
	WRITE_ONCE(result, ksplice_scan_func());
	return 0;
}

static const struct kernel_param_ops call_ops = { .set = call_set };
module_param_cb(call, &call_ops, NULL, 0200);
MODULE_PARM_DESC(call, "write anything: result = ksplice_scan_func()");

static void __exit ksplice_test_scan_exit(void)
{
	finish_set(NULL, NULL);
}

module_exit(ksplice_test_scan_exit);
MODULE_DESCRIPTION("ksplice stack check test target");
MODULE_LICENSE("GPL");
