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
 * - ksplice_fp_publish() stores the address of ksplice_fp_target() in a
 *   function pointer (write anything to "fp_publish"); writing N to
 *   "fp_call" stores ksplice_fp_ptr(N) in "fp_result". The update of both
 *   (fp-update/) must publish the original function, not its copy.
 * - ksplice_wq_func(N) stores N + 1 in "wq_result" (write N to
 *   "wq_call"); patched, it also queues a delayed work item whose function
 *   (new) stores 42 there 8 s later: the update (wq-update/) publishes an
 *   address of its own module, which must outlive its undo.
 *
 * Built with -DKSPLICE_TEST_PATCHED (target-patched/), the functions
 * return x + 2 (ksplice_sc_func() without its static call): the new code
 * of the updates in jl-update/, cold-update/, sc-update/, fp-update/ and
 * wq-update/ (regen.sh).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/err.h>
#include <linux/jump_label.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/static_call.h>
#include <linux/workqueue.h>

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

static int fp_result;
module_param(fp_result, int, 0444);
MODULE_PARM_DESC(fp_result, "what the last call through ksplice_fp_ptr returned");

static int fp_published;
module_param(fp_published, int, 0444);
MODULE_PARM_DESC(fp_published, "1 if the old ksplice_fp_publish() ran last, 2 the new");

typedef int (*ksplice_fp_t)(int x);

static ksplice_fp_t ksplice_fp_ptr;

noinline int ksplice_fp_target(int x)
{
	return x + KSPLICE_TEST_ADD;
}

noinline void ksplice_fp_publish(void)
{
	WRITE_ONCE(ksplice_fp_ptr, ksplice_fp_target);
	WRITE_ONCE(fp_published, KSPLICE_TEST_ADD);
}

static int fp_publish_set(const char *val, const struct kernel_param *kp)
{
	ksplice_fp_publish();
	return 0;
}

static const struct kernel_param_ops fp_publish_ops = { .set = fp_publish_set };
module_param_cb(fp_publish, &fp_publish_ops, NULL, 0200);
MODULE_PARM_DESC(fp_publish, "write anything: ksplice_fp_publish()");

static int fp_call_set(const char *val, const struct kernel_param *kp)
{
	ksplice_fp_t fn = READ_ONCE(ksplice_fp_ptr);
	int x, ret;

	ret = kstrtoint(val, 0, &x);
	if (ret)
		return ret;
	if (!fn)
		return -ENOENT;
	WRITE_ONCE(fp_result, fn(x));
	return 0;
}

static const struct kernel_param_ops fp_call_ops = { .set = fp_call_set };
module_param_cb(fp_call, &fp_call_ops, NULL, 0200);
MODULE_PARM_DESC(fp_call, "write N: fp_result = ksplice_fp_ptr(N)");

static int wq_result;
module_param(wq_result, int, 0444);
MODULE_PARM_DESC(wq_result, "N + 1 after wq_call N; 42 once the patched work ran");

#ifdef KSPLICE_TEST_PATCHED
static void ksplice_wq_work_fn(struct work_struct *work)
{
	WRITE_ONCE(wq_result, 42);
}

static DECLARE_DELAYED_WORK(ksplice_wq_work, ksplice_wq_work_fn);
#endif

noinline void ksplice_wq_func(int x)
{
#ifdef KSPLICE_TEST_PATCHED
	schedule_delayed_work(&ksplice_wq_work, msecs_to_jiffies(8000));
#endif
	WRITE_ONCE(wq_result, x + KSPLICE_TEST_ADD);
}

static int wq_call_set(const char *val, const struct kernel_param *kp)
{
	int x, ret;

	ret = kstrtoint(val, 0, &x);
	if (ret)
		return ret;
	ksplice_wq_func(x);
	return 0;
}

static const struct kernel_param_ops wq_call_ops = { .set = wq_call_set };
module_param_cb(wq_call, &wq_call_ops, NULL, 0200);
MODULE_PARM_DESC(wq_call, "write N: ksplice_wq_func(N)");

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
