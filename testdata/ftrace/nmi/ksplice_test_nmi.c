// SPDX-License-Identifier: GPL-2.0
/*
 * ksplice_test_nmi.c - lab test module (x86-64): calls a function from NMI
 * context on every other CPU, about a thousand times a second, while the
 * test applies and reverses an update of that function.
 *
 * fn= is the address of cmdline_proc_show (from /proc/kallsyms). It only
 * copies saved_command_line into the seq_file's buffer, which, with a
 * per-CPU buffer of our own, is safe in NMI context. A kthread sends an NMI
 * to every other CPU with the local APIC; our NMI_LOCAL handler calls fn
 * and counts the calls and those whose output held "ksplice=patched"
 * (the replacement ran). The counts are logged when the module is removed.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/seq_file.h>
#include <linux/string.h>
#include <asm/apic.h>
#include <asm/nmi.h>

#define KSPLICE_TEST_BUF	1024

static unsigned long fn;
module_param(fn, ulong, 0400);
MODULE_PARM_DESC(fn, "address of cmdline_proc_show");

static int (*show)(struct seq_file *m, void *v);
static DEFINE_PER_CPU(struct seq_file, nmi_seq);
static DEFINE_PER_CPU(char [KSPLICE_TEST_BUF], nmi_buf);
static atomic_long_t nmi_calls = ATOMIC_LONG_INIT(0);
static atomic_long_t nmi_patched = ATOMIC_LONG_INIT(0);
/* Set before the kthread starts sending, cleared after it stopped. */
static bool running;
static struct task_struct *sender;

static int ksplice_test_nmi_handler(unsigned int type, struct pt_regs *regs)
{
	struct seq_file *m;

	/* Pairs with the WRITE_ONCE()s in init and exit. */
	if (!READ_ONCE(running))
		return NMI_DONE;
	m = this_cpu_ptr(&nmi_seq);
	m->buf = this_cpu_ptr(nmi_buf);
	m->size = KSPLICE_TEST_BUF;
	m->count = 0;
	show(m, NULL);
	atomic_long_inc(&nmi_calls);
	if (strnstr(m->buf, "ksplice=patched", m->count))
		atomic_long_inc(&nmi_patched);
	/*
	 * Ours or not, nothing else on this test machine sends NMIs; claiming
	 * it keeps the kernel from reporting an unknown NMI.
	 */
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
	show = (void *)fn;
	ret = register_nmi_handler(NMI_LOCAL, ksplice_test_nmi_handler, 0,
				   "ksplice_test");
	if (ret)
		return ret;
	WRITE_ONCE(running, true);
	sender = kthread_run(ksplice_test_nmi_send, NULL, "ksplice_nmi");
	if (IS_ERR(sender)) {
		WRITE_ONCE(running, false);
		unregister_nmi_handler(NMI_LOCAL, "ksplice_test");
		return PTR_ERR(sender);
	}
	return 0;
}

static void __exit ksplice_test_nmi_exit(void)
{
	kthread_stop(sender);
	/* Waits for handlers in flight (synchronize_rcu()). */
	unregister_nmi_handler(NMI_LOCAL, "ksplice_test");
	WRITE_ONCE(running, false);
	pr_info("nmi calls %ld patched %ld\n", atomic_long_read(&nmi_calls),
		atomic_long_read(&nmi_patched));
}

module_init(ksplice_test_nmi_init);
module_exit(ksplice_test_nmi_exit);
MODULE_DESCRIPTION("ksplice lab test: calls a function from NMI context");
MODULE_LICENSE("GPL");
