// SPDX-License-Identifier: GPL-2.0
/*
 * A target for the engine's safety tests (internal/apply/safety_lab_test.go):
 *
 * - ksplice_jl_func() starts with a static branch, so the jump label site
 *   lies where a trampoline would go (after the __fentry__ call). Writing
 *   N to "call" stores ksplice_jl_func(N) in "result"; writing 1 or 0 to
 *   "key" flips the static key.
 * - ksplice_cold_func() calls a __cold function on an unlikely path, which
 *   gcc moves out of line into ksplice_cold_func.cold: while "park" is 1,
 *   a kthread sleeps in a call made from there, so its stack holds a
 *   return address in the .cold part only. What the function returns last
 *   is in "cold_result".
 * - ksplice_sc_func() tail-calls a static call, whose site lies where a
 *   trampoline would go. Writing N to "sc_call" stores ksplice_sc_func(N)
 *   in "sc_result"; writing 1 or 0 to "sc" points the static call at
 *   x + 10 or back at x + 1.
 *
 * Built with -DKSPLICE_TEST_PATCHED (target-patched/), the functions
 * return x + 2 (ksplice_sc_func() without its static call): the new code
 * of the updates in jl-update/, cold-update/ and sc-update/ (regen.sh).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/err.h>
#include <linux/jump_label.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/static_call.h>

#ifdef KSPLICE_TEST_PATCHED
#define KSPLICE_TEST_ADD 2
#else
#define KSPLICE_TEST_ADD 1
#endif

/*
 * Exported, as are the static call's key and trampoline below: the updates
 * of regen.sh carry the jump label and static call sites of the new code,
 * which the module loader must resolve.
 */
DEFINE_STATIC_KEY_FALSE(ksplice_test_key);
EXPORT_SYMBOL_GPL(ksplice_test_key);

static int result;
module_param(result, int, 0444);
MODULE_PARM_DESC(result, "what ksplice_jl_func() returned last");

static int park;
module_param(park, int, 0644);
MODULE_PARM_DESC(park, "1: the thread sleeps in the .cold part of ksplice_cold_func()");

static int cold_result;
module_param(cold_result, int, 0444);
MODULE_PARM_DESC(cold_result, "what ksplice_cold_func() returned last");

static int sc_result;
module_param(sc_result, int, 0444);
MODULE_PARM_DESC(sc_result, "what ksplice_sc_func() returned last");

static struct task_struct *thread;

static int ksplice_sc_one(int x)
{
	return x + 1;
}

static int ksplice_sc_ten(int x)
{
	return x + 10;
}

DEFINE_STATIC_CALL(ksplice_test_sc, ksplice_sc_one);
EXPORT_STATIC_CALL_GPL(ksplice_test_sc);

noinline int ksplice_jl_func(int x)
{
	if (static_branch_unlikely(&ksplice_test_key))
		return x + 100;
	return x + KSPLICE_TEST_ADD;
}

noinline int ksplice_sc_func(int x)
{
#ifdef KSPLICE_TEST_PATCHED
	return x + 2;
#else
	return static_call(ksplice_test_sc)(x);
#endif
}

static noinline __cold void ksplice_test_park(void)
{
	while (READ_ONCE(park) && !kthread_should_stop())
		msleep(20);
}

noinline int ksplice_cold_func(void)
{
	if (unlikely(READ_ONCE(park)))
		ksplice_test_park();
	return KSPLICE_TEST_ADD;
}

static int ksplice_test_thread(void *data)
{
	while (!kthread_should_stop()) {
		WRITE_ONCE(cold_result, ksplice_cold_func());
		msleep(20);
	}
	return 0;
}

static int call_set(const char *val, const struct kernel_param *kp)
{
	int x, ret;

	ret = kstrtoint(val, 0, &x);
	if (ret)
		return ret;
	WRITE_ONCE(result, ksplice_jl_func(x));
	return 0;
}

static const struct kernel_param_ops call_ops = { .set = call_set };
module_param_cb(call, &call_ops, NULL, 0200);
MODULE_PARM_DESC(call, "write N: result = ksplice_jl_func(N)");

static int key_set(const char *val, const struct kernel_param *kp)
{
	bool on;
	int ret;

	ret = kstrtobool(val, &on);
	if (ret)
		return ret;
	if (on)
		static_branch_enable(&ksplice_test_key);
	else
		static_branch_disable(&ksplice_test_key);
	return 0;
}

static const struct kernel_param_ops key_ops = { .set = key_set };
module_param_cb(key, &key_ops, NULL, 0200);
MODULE_PARM_DESC(key, "1 or 0: enable or disable the static key");

static int sc_call_set(const char *val, const struct kernel_param *kp)
{
	int x, ret;

	ret = kstrtoint(val, 0, &x);
	if (ret)
		return ret;
	WRITE_ONCE(sc_result, ksplice_sc_func(x));
	return 0;
}

static const struct kernel_param_ops sc_call_ops = { .set = sc_call_set };
module_param_cb(sc_call, &sc_call_ops, NULL, 0200);
MODULE_PARM_DESC(sc_call, "write N: sc_result = ksplice_sc_func(N)");

static int sc_set(const char *val, const struct kernel_param *kp)
{
	bool ten;
	int ret;

	ret = kstrtobool(val, &ten);
	if (ret)
		return ret;
	if (ten)
		static_call_update(ksplice_test_sc, ksplice_sc_ten);
	else
		static_call_update(ksplice_test_sc, ksplice_sc_one);
	return 0;
}

static const struct kernel_param_ops sc_ops = { .set = sc_set };
module_param_cb(sc, &sc_ops, NULL, 0200);
MODULE_PARM_DESC(sc, "1 or 0: point the static call at x + 10 or x + 1");

static int __init ksplice_test_safety_init(void)
{
	thread = kthread_run(ksplice_test_thread, NULL, "ksplice_cold");
	return PTR_ERR_OR_ZERO(thread);
}

static void __exit ksplice_test_safety_exit(void)
{
	kthread_stop(thread);
}

module_init(ksplice_test_safety_init);
module_exit(ksplice_test_safety_exit);
MODULE_DESCRIPTION("ksplice safety test target");
MODULE_LICENSE("GPL");
