// SPDX-License-Identifier: GPL-2.0
/*
 * A target with two objects for the engine's run-pre deductions
 * (internal/apply/scan_lab_test.go): each of its objects has a static
 * "counter", at two addresses, which the update of
 * ksplice_objs_a() and ksplice_objs_b() uses in each. Writing anything to
 * "call_a" ("call_b") stores ksplice_objs_a() (ksplice_objs_b()) in
 * "result_a" ("result_b"). Built with -DKSPLICE_TEST_PATCHED, both add 2
 * instead of 1.
 */
#include <linux/module.h>

#ifdef KSPLICE_TEST_PATCHED
#define KSPLICE_TEST_ADD 2
#else
#define KSPLICE_TEST_ADD 1
#endif

static int counter;

noinline int ksplice_objs_a(void)
{
	return ++counter * 10 + KSPLICE_TEST_ADD;
}

static int result_a;
module_param(result_a, int, 0444);
MODULE_PARM_DESC(result_a, "what ksplice_objs_a() returned last");

static int call_a_set(const char *val, const struct kernel_param *kp)
{
	WRITE_ONCE(result_a, ksplice_objs_a());
	return 0;
}

static const struct kernel_param_ops call_a_ops = { .set = call_a_set };
module_param_cb(call_a, &call_a_ops, NULL, 0200);
MODULE_PARM_DESC(call_a, "write anything: result_a = ksplice_objs_a()");

MODULE_DESCRIPTION("ksplice per-object deduction test target");
MODULE_LICENSE("GPL");
