// SPDX-License-Identifier: GPL-2.0
/*
 * A lab test module: a kprobe on the entry of sym=, registered while the
 * module is loaded, whose hits are logged when it is removed. tracefs'
 * kprobe events refuse notrace functions (without
 * CONFIG_KPROBE_EVENTS_ON_NOTRACE); kprobes itself does not, and that is
 * what a function without an ftrace site meets in the wild.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/kprobes.h>
#include <linux/module.h>

static char *sym;
module_param(sym, charp, 0400);
MODULE_PARM_DESC(sym, "function to probe");

static atomic_long_t hits = ATOMIC_LONG_INIT(0);

static int ksplice_test_pre(struct kprobe *p, struct pt_regs *regs)
{
	atomic_long_inc(&hits);
	return 0;
}

static struct kprobe kp = { .pre_handler = ksplice_test_pre };

static int __init ksplice_test_kprobe_init(void)
{
	int ret;

	if (!sym)
		return -EINVAL;
	kp.symbol_name = sym;
	ret = register_kprobe(&kp);
	if (ret)
		pr_err("register_kprobe(%s): %d\n", sym, ret);
	return ret;
}

static void __exit ksplice_test_kprobe_exit(void)
{
	unregister_kprobe(&kp);
	pr_info("kprobe on %s: %ld hits\n", sym, atomic_long_read(&hits));
}

module_init(ksplice_test_kprobe_init);
module_exit(ksplice_test_kprobe_exit);
MODULE_DESCRIPTION("ksplice lab test: a kprobe on a function");
MODULE_LICENSE("GPL");
