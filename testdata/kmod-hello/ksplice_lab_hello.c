// SPDX-License-Identifier: GPL-2.0
/*
 * A module for the lab's own tests: it proves that a module built against
 * the lab's headers loads into the lab kernel, and, with warn=1, that a
 * WARNING on the guest console fails the run.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/module.h>
#include <linux/utsname.h>

static bool warn;
module_param(warn, bool, 0444);
MODULE_PARM_DESC(warn, "trigger a WARNING at load time");

static int __init ksplice_lab_hello_init(void)
{
	pr_info("loaded into %s\n", init_utsname()->release);
	WARN_ON(warn);
	return 0;
}

static void __exit ksplice_lab_hello_exit(void)
{
	pr_info("unloaded\n");
}

module_init(ksplice_lab_hello_init);
module_exit(ksplice_lab_hello_exit);
MODULE_DESCRIPTION("ksplice lab test module");
MODULE_LICENSE("GPL");
