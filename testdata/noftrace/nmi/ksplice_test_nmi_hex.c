// SPDX-License-Identifier: GPL-2.0
/*
 * A lab test module (x86-64): calls hex_to_bin()
 * from NMI context on every other CPU, about a thousand times a second,
 * while the test reverses and applies an update of it (a function without
 * an ftrace site, diverted by a direct jump).
 *
 * fn= is the address of hex_to_bin (from /proc/kallsyms), pure code that
 * is safe in NMI context. The old version returns -1 for DEL (0x7f), the
 * update's -2: the counts of calls and of -2 answers are logged when the
 * module is removed.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <asm/apic.h>
#include <asm/nmi.h>

static unsigned long fn;
module_param(fn, ulong, 0400);
MODULE_PARM_DESC(fn, "address of hex_to_bin");

static int (*hex)(unsigned char ch);
static atomic_long_t nmi_calls = ATOMIC_LONG_INIT(0);
static atomic_long_t nmi_patched = ATOMIC_LONG_INIT(0);
static atomic_long_t nmi_wrong = ATOMIC_LONG_INIT(0);
/* Set before the kthread starts sending, cleared after it stopped. */
static bool running;
static struct task_struct *sender;

static int ksplice_test_nmi_handler(unsigned int type, struct pt_regs *regs)
{
	int r;

	/* Pairs with the WRITE_ONCE()s in init and exit. */
	if (!READ_ONCE(running))
		return NMI_DONE;
	r = hex(0x7f);
	atomic_long_inc(&nmi_calls);
	if (r == -2)
		atomic_long_inc(&nmi_patched);
	else if (r != -1)
		atomic_long_inc(&nmi_wrong);
	/* Nothing else on this test machine sends NMIs. */
	return NMI_HANDLED;
}

static int ksplice_test_nmi_send(void *unused)
{
	while (!kthread_should_stop()) {
		apic->send_IPI_allbutself(NMI_VECTOR);
		usleep_range(1000, 2000);
	}
	return 0;
}

static int __init ksplice_test_nmi_init(void)
{
	int ret;

	if (!fn)
		return -EINVAL;
	hex = (void *)fn;
	ret = register_nmi_handler(NMI_LOCAL, ksplice_test_nmi_handler, 0,
				   "ksplice_test_hex");
	if (ret)
		return ret;
	WRITE_ONCE(running, true);
	sender = kthread_run(ksplice_test_nmi_send, NULL, "ksplice_nmi_hex");
	if (IS_ERR(sender)) {
		WRITE_ONCE(running, false);
		unregister_nmi_handler(NMI_LOCAL, "ksplice_test_hex");
		return PTR_ERR(sender);
	}
	return 0;
}

static void __exit ksplice_test_nmi_exit(void)
{
	kthread_stop(sender);
	/* Waits for handlers in flight (synchronize_rcu()). */
	unregister_nmi_handler(NMI_LOCAL, "ksplice_test_hex");
	WRITE_ONCE(running, false);
	pr_info("nmi calls %ld patched %ld wrong %ld\n",
		atomic_long_read(&nmi_calls), atomic_long_read(&nmi_patched),
		atomic_long_read(&nmi_wrong));
}

module_init(ksplice_test_nmi_init);
module_exit(ksplice_test_nmi_exit);
MODULE_DESCRIPTION("ksplice lab test: calls hex_to_bin() from NMI context");
MODULE_LICENSE("GPL");
