// SPDX-License-Identifier: GPL-2.0
/* The second object of ksplice_test_objs: see objs_a.c. */
#include <linux/module.h>

#ifdef KSPLICE_TEST_PATCHED
#define KSPLICE_TEST_ADD 2
#else
#define KSPLICE_TEST_ADD 1
#endif

static int counter;

noinline int ksplice_objs_b(void)
{
	return ++counter * 100 + KSPLICE_TEST_ADD;
}

static int result_b;
module_param(result_b, int, 0444);
MODULE_PARM_DESC(result_b, "what ksplice_objs_b() returned last");

static int call_b_set(const char *val, const struct kernel_param *kp)
{
	WRITE_ONCE(result_b, ksplice_objs_b());
	return 0;
}

static const struct kernel_param_ops call_b_ops = { .set = call_b_set };
module_param_cb(call_b, &call_b_ops, NULL, 0200);
MODULE_PARM_DESC(call_b, "write anything: result_b = ksplice_objs_b()");
