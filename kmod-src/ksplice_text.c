// SPDX-License-Identifier: GPL-2.0
/*
 * ksplice_text.c - how calls reach the replacement of a function that has
 * no ftrace site: a direct jump written over its entry.
 *
 * Code built without -pg (lib/, kernel/trace/ on Debian) and the
 * out-of-line copies of inline functions have no ftrace site, so the
 * ftrace_ops of ksplice_ftrace.c cannot claim them. For those, the
 * generator checked the function's first instructions (the "window":
 * after an endbr64 or a "bti c", 5 bytes on x86-64; on arm64 three
 * instructions where the function allows, else one) and recorded them as
 * a KSPLICE_SITE_ENTRY_JUMP site: whole instructions, no branch target, no
 * other site, and on x86-64 no relocation. The engine writes "jmp new"
 * (x86) or "b new" (arm64; "adrp x16; add x16; br x16" in a 12-byte
 * window when "b" does not reach) there, inside the stop_machine that
 * checked every stack, and writes back on reverse the bytes run-pre
 * matched.
 *
 * Writing code that another CPU or an NMI may run:
 * - Every CPU runs the stop_machine callback (ksplice_text_follow()), with
 *   interrupts off, while one of them writes. After each step of a write
 *   the others serialise their instruction stream and say so; the writer
 *   goes on only when all have. A CPU acks from the callback, not from an
 *   NMI, so once all have acked no NMI that began before the step is
 *   still running the bytes it changed.
 * - x86: text_poke_bp()'s sequence: an int3 over the first byte, sync,
 *   the other bytes, sync, the first byte, sync. An NMI (on any CPU,
 *   the writer's included) that runs the function meanwhile traps on the
 *   int3; ksplice_text_int3() (a die notifier, DIE_INT3) sends it to the
 *   replacement, as the completed jump would. The notifier is registered
 *   when the engine loads and removed when it unloads, when no write is
 *   in flight. text_poke_bp() itself cannot be used inside stop_machine:
 *   it waits for IPIs that the stopped CPUs cannot take.
 * - arm64: one aligned 4-byte write is atomic for instruction fetch
 *   (ARM ARM B2.2.5, the concurrent modification rule for B); the other
 *   CPUs isb after it, as aarch64_insn_patch_text_cb() has them do. The
 *   long form's three words cannot change atomically: no CPU may run
 *   them meanwhile. Every CPU is in the callback with interrupts off, no
 *   task is inside the function (the stack check), and the NMI-like
 *   entries are shut: each CPU masks SDEI events for the round
 *   (ksplice_text_shut(); a CPU that cannot makes the round change
 *   nothing) and the long form is refused where the
 *   kernel uses pseudo-NMIs. The writer writes the second and third
 *   words, all CPUs isb, then the first, all CPUs isb.
 * - arm64, what runs meanwhile: the words go through a writable alias
 *   mapped before stop_machine, with the cache maintenance inline, and
 *   everything between the first write and the last step, on every CPU,
 *   is notrace and NOKPROBE_SYMBOL or inline. A traced call there would
 *   record an event through kernel/trace/ code that has no ftrace site
 *   (ring_buffer_lock_reserve()), which may be the very function whose
 *   window is half written.
 *
 * Conflicts: before stop_machine, the window must hold no jump label,
 * static call, SMP alternative or kprobe (the questions kprobes asks
 * before it writes an int3), no ftrace site, and the bytes run-pre
 * matched. Inside stop_machine, before anything is written, each window
 * must still hold what the previous owner left there: the old bytes, or
 * ksplice's own jump to the replacement applied before. Anything else (a
 * kprobe's int3 or an optimized kprobe's jump, written since) refuses the
 * whole round, naming the kprobe where there is one.
 *
 * Several updates may replace one function (stacked updates): the window
 * is shared, counted by its users, and holds the jump to the newest
 * applied replacement, or the old bytes when none is applied.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ftrace.h>
#include <linux/jump_label.h>
#include <linux/kdebug.h>
#include <linux/kprobes.h>
#include <linux/list.h>
#include <linux/notifier.h>
#include <linux/slab.h>
#include <linux/static_call.h>
#include <linux/uaccess.h>
#include "ksplice_internal.h"

/* The window of one function, shared by every update that replaces it. */
struct ksplice_jsite {
	struct list_head list;		/* in ksplice_jsites */
	unsigned long addr;		/* the replaced function */
	unsigned long site;		/* the window: addr + its offset */
	u32 len;
	unsigned int users;		/* updates applying or applied */
	/*
	 * The bytes before any update (as run-pre matched them); what
	 * reverse of the last writes.
	 */
	u8 orig[KSPLICE_JUMP_MAX];
};

/* Every ksplice_jsite; protected by ksplice_mutex. */
static LIST_HEAD(ksplice_jsites);

/*
 * Unexported: found in kallsyms at load time, typed after the kernel's
 * declarations. Each answers whether bytes are a site the kernel rewrites
 * at run time; absent where the kernel has no such sites.
 */
static typeof(&jump_label_text_reserved) ksplice_jump_label_reserved;
static typeof(&static_call_text_reserved) ksplice_static_call_reserved;
static typeof(&get_kprobe) ksplice_get_kprobe;
static typeof(&ftrace_location) ksplice_ftrace_location;
/*
 * kprobes' blacklist: NOKPROBE_SYMBOL functions, __kprobes, and what the
 * architecture adds (x86: entry and noinstr text): code where a
 * breakpoint cannot be taken, so where no jump may be written under one.
 */
static typeof(&within_kprobe_blacklist) ksplice_kprobe_blacklisted;

/*
 * Tests only (arm64): the update whose direct jumps are written in their
 * long form (adrp x16; add x16; br x16) wherever the window allows it,
 * even where "b" reaches the replacement; "*" for every update. The lab
 * runs the long form whatever KASLR made of the module region, and, with
 * one update's id, stacks a long form over a short one. Harmless (the
 * long form is as correct where "b" reaches) but writes three words where
 * one would do.
 */
static char *test_only_long_jump;
module_param(test_only_long_jump, charp, 0400);
MODULE_PARM_DESC(test_only_long_jump,
		 "tests only (arm64): write the direct jumps of this update (* for all) as adrp/add/br x16 where the window allows, even where b reaches");

static bool ksplice_text_force_long(const struct ksplice_state *st)
{
	return test_only_long_jump &&
	       (!strcmp(test_only_long_jump, "*") ||
		!strcmp(test_only_long_jump, st->u->id));
}

/*
 * Tests only: whose mask of NMI-like events fails in a round of
 * several-word writes, as if the firmware had refused it (-EIO): "writer"
 * (the CPU that writes) or "follower" (every other CPU); empty for none.
 * No machine in the lab has SDEI firmware, so without this no test would
 * see a mask fail; the round must then change nothing. Writable, so that
 * a test can clear it and see the same update go through.
 */
static char *test_only_nmi_mask_fail;
module_param(test_only_nmi_mask_fail, charp, 0600);
MODULE_PARM_DESC(test_only_nmi_mask_fail,
		 "tests only: \"writer\" or \"follower\": that CPU's mask of NMI-like events (arm64 SDEI) for a round fails with -EIO");

/*
 * Mask this CPU's NMI-like events for a round; a failure is recorded as
 * the CPU and the error packed in one word (the first CPU to fail wins):
 * the CPU number above the low 12 bits, which hold -err (never 0). Every
 * mask that worked is counted, and every unmask (ksplice_text_unmask()):
 * ksplice_text_after() checks that none is left.
 */
static __always_inline bool ksplice_text_mask(struct ksplice_text_round *tr,
					      bool writer)
{
	const char *fail = READ_ONCE(test_only_nmi_mask_fail);
	unsigned int cpu = raw_smp_processor_id();
	int err;

	if (fail && sysfs_streq(fail, writer ? "writer" : "follower"))
		err = -EIO;
	else
		err = ksplice_arch_mask_nmi();
	if (!err) {
		ksplice_atomic_inc(&tr->nmi_masked);
		return true;
	}
	/* Fully ordered: before the ack that follows. */
	ksplice_atomic_cmpxchg(&tr->nmi_mask_failed, 0,
			       (int)(cpu << 12 | (-err & 0xfff)));
	return false;
}

static __always_inline void ksplice_text_unmask(struct ksplice_text_round *tr)
{
	ksplice_arch_unmask_nmi();
	ksplice_atomic_dec(&tr->nmi_masked);
}

/*
 * The round writing now (ksplice_text_write()), for the int3 handler:
 * set before the first int3 is written and cleared after the last sync,
 * by the one CPU that writes.
 */
static struct ksplice_text_round *ksplice_text_writing;

#ifdef CONFIG_X86
/* int3 traps sent on by ksplice_text_int3(), logged when the engine goes. */
static atomic_long_t ksplice_text_traps = ATOMIC_LONG_INIT(0);

/*
 * An int3 that ksplice wrote over the first byte of a window: send the
 * CPU where the finished write will (or, on reverse, the jump being
 * taken out did): to a replacement, which stays loaded until after the
 * stop_machine. Runs in the int3 handler, any context, NMI included:
 * reads only what the writer published before its int3.
 */
static int ksplice_text_int3(struct notifier_block *nb, unsigned long val,
			     void *data)
{
	struct die_args *args = data;
	struct ksplice_text_round *tr;
	unsigned long ip;
	unsigned int i, j;

	if (val != DIE_INT3 || user_mode(args->regs))
		return NOTIFY_DONE;
	/* Pairs with the smp_store_release() of ksplice_text_write(). */
	tr = smp_load_acquire(&ksplice_text_writing);
	if (!tr)
		return NOTIFY_DONE;
	ip = args->regs->ip - 1;	/* after the int3 */
	for (i = 0; i < tr->n; i++) {
		struct ksplice_state *st = tr->sts[i];

		for (j = 0; j < st->u->nr_funcs; j++) {
			struct ksplice_func_state *fs = &st->funcs[j];

			if (fs->js && fs->js->site == ip && fs->jump_emulate) {
				atomic_long_inc(&ksplice_text_traps);
				args->regs->ip = fs->jump_emulate;
				return NOTIFY_STOP;
			}
		}
	}
	return NOTIFY_DONE;
}

static struct notifier_block ksplice_text_nb = {
	.notifier_call = ksplice_text_int3,
	/* Before anyone else who could take our int3 for theirs. */
	.priority = INT_MAX,
};

/*
 * Tests only. A window lasts a few microseconds, and no NMI that runs the
 * function comes in it by chance: without help, no test ever runs
 * ksplice_text_int3(). With this set, the writer sends an NMI to another
 * CPU inside each int3 window of a round (after the int3 is written, and
 * again after the rest of the jump is) and waits, up to a second, until
 * an NMI has trapped on one of the round's int3s. The lab's NMI test
 * module (testdata/noftrace/nmi) calls the replaced function from its NMI
 * handler. It lengthens stop_machine by a round trip to another CPU and
 * makes every CPU take NMIs nobody else expects: never on a production
 * machine.
 */
static bool test_only_nmi_in_jump_write;
module_param(test_only_nmi_in_jump_write, bool, 0400);
MODULE_PARM_DESC(test_only_nmi_in_jump_write,
		 "tests only, never in production: send an NMI into each int3 window of a direct jump write and wait for it to trap");

static void ksplice_text_test_nmi(struct ksplice_text_round *tr)
{
	long traps = atomic_long_read(&ksplice_text_traps);
	unsigned int cpu;
	u64 end;

	if (!test_only_nmi_in_jump_write)
		return;
	cpu = cpumask_any_but(cpu_online_mask, smp_processor_id());
	if (cpu >= nr_cpu_ids)
		return;
	ksplice_arch_send_nmi(cpu);
	tr->test_nmis++;
	end = ktime_get_ns() + NSEC_PER_SEC;
	while (atomic_long_read(&ksplice_text_traps) == traps &&
	       ktime_get_ns() < end)
		cpu_relax();
	tr->test_traps += atomic_long_read(&ksplice_text_traps) - traps;
}

/* After the round (tests only): what the NMIs sent into its windows did. */
void ksplice_text_test_report(struct ksplice_text_round *tr)
{
	if (tr->test_nmis)
		pr_info("%s: %s: int3 windows: %u NMIs sent, %u trapped\n",
			tr->sts[0]->u->id, tr->reverse ? "reverse" : "apply",
			tr->test_nmis, tr->test_traps);
}
#else
void ksplice_text_test_report(struct ksplice_text_round *tr)
{
}
#endif

int __init ksplice_text_init(void)
{
	ksplice_jump_label_reserved =
		(void *)ksplice_lookup_name("jump_label_text_reserved");
	ksplice_static_call_reserved =
		(void *)ksplice_lookup_name("static_call_text_reserved");
	ksplice_get_kprobe = (void *)ksplice_lookup_name("get_kprobe");
	ksplice_ftrace_location = (void *)ksplice_lookup_name("ftrace_location");
	ksplice_kprobe_blacklisted =
		(void *)ksplice_lookup_name("within_kprobe_blacklist");
#ifdef CONFIG_X86
	return register_die_notifier(&ksplice_text_nb);
#else
	return 0;
#endif
}

void ksplice_text_exit(void)
{
#ifdef CONFIG_X86
	/* No update is applied and no write is in flight: nothing to trap. */
	unregister_die_notifier(&ksplice_text_nb);
	pr_info("int3 traps of direct jumps being written, sent on: %ld\n",
		atomic_long_read(&ksplice_text_traps));
#endif
}

/* The window site of @f, if the generator gave it one. */
const struct ksplice_site *ksplice_jump_window(const struct ksplice_func *f)
{
	u32 i;

	for (i = 0; i < f->nr_sites; i++)
		if (f->sites[i].kind == KSPLICE_SITE_ENTRY_JUMP)
			return &f->sites[i];
	return NULL;
}

/*
 * The kprobe at one of [@start, @end], described in @buf, or NULL. The
 * kprobe table is read under RCU, as kprobes' own lookups do.
 */
static const char *ksplice_kprobe_in(unsigned long start, unsigned long end,
				     char *buf, size_t size)
{
	struct kprobe *p = NULL;
	unsigned long a;

	if (!ksplice_get_kprobe)
		return NULL;
	rcu_read_lock();
	for (a = start; a <= end && !p; a++)
		p = ksplice_get_kprobe((void *)a);
	if (p) {
		struct kprobe *user = p, *kp;

		/*
		 * Several kprobes on one address, or an optimized one, hang
		 * off an aggregate kprobe whose handlers are kprobes' own:
		 * name the first user's (an unaggregated kprobe's list is
		 * empty).
		 */
		list_for_each_entry_rcu(kp, &p->list, list) {
			user = kp;
			break;
		}
		snprintf(buf, size, "a kprobe at %pS (%s%s%s, handler %ps)",
			 (void *)a - 1, user->symbol_name ?: "by address",
			 kprobe_disabled(p) ? ", disabled" : "",
			 kprobe_optimized(p) ? ", optimized" : "",
			 user->pre_handler);
	}
	rcu_read_unlock();
	return p ? buf : NULL;
}

/**
 * ksplice_text_kprobe - name the kprobe in a function, if any
 * @addr:	start of the function
 * @size:	its size
 * @buf:	where to write the description
 * @len:	size of @buf
 *
 * For run-pre matching: a kprobe's int3 (or an optimized kprobe's jump) is
 * why a function without an ftrace site does not match its old code.
 */
const char *ksplice_text_kprobe(unsigned long addr, unsigned long size,
				char *buf, size_t len)
{
	return size ? ksplice_kprobe_in(addr, addr + size - 1, buf, len) : NULL;
}

/*
 * What the kernel rewrites at run time in [@start, @start + @len): the
 * same questions kprobes asks before it writes an int3
 * (check_kprobe_address_safe()). Called with text_mutex held (x86), so
 * that no text patcher changes its tables meanwhile. NULL if nothing.
 */
static const char *ksplice_reserved(unsigned long start, u32 len, char *buf,
				    size_t size)
{
	void *p = (void *)start, *q = (void *)(start + len - 1);
	const char *kind;

	if (ksplice_jump_label_reserved && ksplice_jump_label_reserved(p, q))
		return "jump label";
	if (ksplice_static_call_reserved && ksplice_static_call_reserved(p, q))
		return "static call";
	kind = ksplice_arch_text_reserved(p, q);
	if (kind)
		return kind;
	return ksplice_kprobe_in(start, start + len - 1, buf, size);
}

static struct ksplice_jsite *ksplice_jsite_find(unsigned long addr)
{
	struct ksplice_jsite *js;

	list_for_each_entry(js, &ksplice_jsites, list)
		if (js->addr == addr)
			return js;
	return NULL;
}

/* A new window on @fs's function, first claim; reason set on failure. */
static int ksplice_jsite_create(struct ksplice_state *st,
				struct ksplice_func_state *fs,
				const struct ksplice_site *w,
				struct ksplice_jsite **out)
{
	struct ksplice_jsite *js;
	char buf[KSPLICE_MSG_LEN / 2];
	const char *kind;
	unsigned long ip;

	if (w->len > KSPLICE_JUMP_MAX || w->offset + w->len > fs->addr_size) {
		ksplice_set_reason(st, KSPLICE_TOO_SHORT,
				   "function %s: the jump window +0x%x..+0x%x does not fit in its 0x%lx bytes",
				   fs->f->name, w->offset, w->offset + w->len - 1,
				   fs->addr_size);
		return -EINVAL;
	}
	/*
	 * The tables say the function has no ftrace site; the kernel must
	 * agree, or the jump would overwrite a call site ftrace owns.
	 */
	ip = ksplice_ftrace_location ? ksplice_ftrace_location(fs->addr) : 0;
	if (ip) {
		ksplice_set_reason(st, KSPLICE_SITE_CONFLICT,
				   "function %s has an ftrace site at %pS in the running kernel, and the update was built to jump over its entry",
				   fs->f->name, (void *)ip);
		return -EOPNOTSUPP;
	}
	/*
	 * create refuses these already (elfdiff); the kernel's own list is
	 * the last word, whatever made the tables.
	 */
	if (ksplice_kprobe_blacklisted && ksplice_kprobe_blacklisted(fs->addr)) {
		ksplice_set_reason(st, KSPLICE_SITE_CONFLICT,
				   "function %s is on kprobes' blacklist (NOKPROBE_SYMBOL, entry or noinstr code): it runs where the breakpoint a jump is written under cannot be taken",
				   fs->f->name);
		return -EOPNOTSUPP;
	}
	kind = ksplice_reserved(fs->addr + w->offset, w->len, buf, sizeof(buf));
	if (kind) {
		ksplice_set_reason(st, KSPLICE_SITE_CONFLICT,
				   "function %s: the jump at +0x%x..+0x%x would overwrite %s",
				   fs->f->name, w->offset, w->offset + w->len - 1,
				   kind);
		return -EOPNOTSUPP;
	}
	js = kzalloc(sizeof(*js), GFP_KERNEL);
	if (!js) {
		ksplice_set_reason(st, KSPLICE_NOMEM, "out of memory");
		return -ENOMEM;
	}
	js->addr = fs->addr;
	js->site = fs->addr + w->offset;
	js->len = w->len;
	/*
	 * What run-pre matched in the running code, not the old code of the
	 * tables: relocated fields (an adrp, a bl) hold the running
	 * kernel's values there.
	 */
	if (copy_from_kernel_nofault(js->orig, (void *)js->site, js->len) ||
	    memcmp(js->orig, fs->jump_run, js->len)) {
		ksplice_set_reason(st, KSPLICE_CODE_CHANGED,
				   "function %s: the bytes at +0x%x are %*ph, run-pre matched %*ph",
				   fs->f->name, w->offset, (int)js->len, js->orig,
				   (int)js->len, fs->jump_run);
		kfree(js);
		return -EIO;
	}
	list_add(&js->list, &ksplice_jsites);
	*out = js;
	return 0;
}

static void ksplice_jsite_put(struct ksplice_jsite *js)
{
	if (--js->users)
		return;
	list_del(&js->list);
	kfree(js);
}

/**
 * ksplice_text_claim - take the windows of @st's functions that have one
 * @st:	the update being applied, after run-pre matching and before
 *	ksplice_ftrace_claim(); ksplice_mutex held
 *
 * Marks each function with a window (fs->js) so that ftrace leaves it
 * alone, checks the window and prepares the jump to the replacement. All
 * or none: on failure every claim made is released and the reason set.
 */
int ksplice_text_claim(struct ksplice_state *st)
{
	unsigned int i;
	int ret = 0;

	ksplice_arch_lock_text();
	for (i = 0; i < st->u->nr_funcs; i++) {
		struct ksplice_func_state *fs = &st->funcs[i];
		const struct ksplice_site *w = ksplice_jump_window(fs->f);
		struct ksplice_jsite *js;
		unsigned long dest;
		const char *why;
		int len;

		fs->js = NULL;
		if (!w)
			continue;
		js = ksplice_jsite_find(fs->addr);
		if (!js) {
			ret = ksplice_jsite_create(st, fs, w, &js);
			if (ret)
				goto release;
		} else if (js->site != fs->addr + w->offset) {
			/*
			 * Only the start must agree. An update made --after
			 * another found its window in the earlier
			 * replacement's code, so its length may differ; the
			 * bytes written are the function's own, which the
			 * first claim checked for js->len, and the jump is
			 * made for that room.
			 */
			ksplice_set_reason(st, KSPLICE_SITE_CONFLICT,
					   "function %s: an applied update jumps from +0x%lx, this one would from +0x%x",
					   fs->f->name, js->site - js->addr,
					   w->offset);
			ret = -EOPNOTSUPP;
			goto release;
		}
		js->users++;
		fs->js = js;
		dest = (unsigned long)fs->f->new_func + w->target;
		/* The jump, over the window's bytes where it is shorter. */
		memcpy(fs->jump, js->orig, js->len);
		len = ksplice_arch_jump(js->site, dest, js->len,
					ksplice_text_force_long(st), fs->jump,
					&why);
		if (len < 0) {
			ksplice_set_reason(st, len == -ERANGE ?
					   KSPLICE_TOO_SHORT :
					   KSPLICE_SITE_CONFLICT,
					   "function %s: no jump in its %u-byte window reaches its replacement %pS from %pS%s",
					   fs->f->name, js->len, (void *)dest,
					   (void *)js->site, why);
			ret = len;
			i++;
			goto release;
		}
		fs->jump_dest = dest;
	}
	ksplice_arch_unlock_text();
	return 0;

release:
	while (i--) {
		struct ksplice_func_state *fs = &st->funcs[i];

		if (fs->js)
			ksplice_jsite_put(fs->js);
		fs->js = NULL;
	}
	ksplice_arch_unlock_text();
	return ret;
}

/**
 * ksplice_text_release - undo ksplice_text_claim()
 * @st:	the update, switched off (reversed, or its apply failed)
 */
void ksplice_text_release(struct ksplice_state *st)
{
	unsigned int i;

	for (i = 0; i < st->u->nr_funcs; i++) {
		struct ksplice_func_state *fs = &st->funcs[i];

		if (fs->js)
			ksplice_jsite_put(fs->js);
		fs->js = NULL;
	}
}

/* Whether any function of @st is diverted by a direct jump. */
bool ksplice_text_used(const struct ksplice_state *st)
{
	unsigned int i;

	for (i = 0; i < st->u->nr_funcs; i++)
		if (st->funcs[i].js)
			return true;
	return false;
}

/*
 * The function state of the update whose replacement calls of @addr
 * reach once @st is switched off: the newest other applied update's, or
 * NULL for the function itself.
 */
static struct ksplice_func_state *ksplice_text_prev(struct ksplice_state *st,
						    unsigned long addr)
{
	struct ksplice_state *o;
	unsigned int i;

	list_for_each_entry(o, &ksplice_applied, applied) {
		if (o == st)
			continue;
		for (i = 0; i < o->u->nr_funcs; i++)
			if (o->funcs[i].addr == addr && o->funcs[i].js)
				return &o->funcs[i];
	}
	return NULL;
}

/*
 * Prepare the writes of @st's windows for switching @on or off: what each
 * window holds now (from, checked inside stop_machine) and what it will
 * hold (to), and where the int3 handler sends a CPU meanwhile.
 */
static void ksplice_text_plan(struct ksplice_text_round *tr,
			      struct ksplice_state *st, bool on)
{
	unsigned int i;

	for (i = 0; i < st->u->nr_funcs; i++) {
		struct ksplice_func_state *fs = &st->funcs[i], *prev;
		/*
		 * The window holds the newest applied update's jump (made
		 * when it claimed the window), or its original bytes.
		 */
		const u8 *other;

		if (!fs->js)
			continue;
		prev = ksplice_text_prev(st, fs->addr);
		other = prev ? prev->jump : fs->js->orig;
		memcpy(fs->jump_from, on ? other : fs->jump, fs->js->len);
		memcpy(fs->jump_to, on ? fs->jump : other, fs->js->len);
		/*
		 * Applying, the jump being written; reversing, the one being
		 * taken out: the replacement is loaded either way.
		 */
		fs->jump_emulate = fs->jump_dest;
		/*
		 * arm64: any change to a window of several words, its first
		 * word alone included (a long jump to another destination
		 * with the same low 12 bits changes only the adrp, which may
		 * not change under a running CPU as b may).
		 */
		if (!IS_ENABLED(CONFIG_X86) && fs->js->len > 4 &&
		    memcmp(fs->jump_from, fs->jump_to, fs->js->len))
			tr->multiword = true;
	}
}

/**
 * ksplice_text_prepare - before stop_machine: plan the round's writes
 * @tr:	the round's updates and direction
 *
 * Runs with ksplice_mutex held, in process context, before the
 * stop_machine of @tr; ksplice_text_finish() after it. On arm64, maps a
 * writable alias of each window: the write itself must call nothing that
 * the function tracer or a kprobe could divert into a window it has half
 * written (ksplice_text_write()). Returns 0, or -ENOMEM with the reason
 * set on the round's first update.
 */
int ksplice_text_prepare(struct ksplice_text_round *tr)
{
	unsigned int i, j;
	int ret;

	atomic_set(&tr->entered, 0);
	atomic_set(&tr->acked, 0);
	atomic_set(&tr->step, 0);
	tr->done = false;
	tr->test_nmis = 0;
	tr->test_traps = 0;
	tr->multiword = false;
	tr->writer_masked = false;
	tr->nmi_unmasked = 0;
	atomic_set(&tr->nmi_mask_failed, 0);
	atomic_set(&tr->nmi_masked, 0);
	for (i = 0; i < tr->n; i++)
		ksplice_text_plan(tr, tr->sts[i], !tr->reverse);
	for (i = 0; i < tr->n; i++)
		for (j = 0; j < tr->sts[i]->u->nr_funcs; j++) {
			struct ksplice_func_state *fs = &tr->sts[i]->funcs[j];

			fs->jump_alias = NULL;
			fs->jump_map = NULL;
			if (!fs->js)
				continue;
			ret = ksplice_arch_map_window(fs->js->site, fs->js->len,
						      &fs->jump_alias,
						      &fs->jump_map);
			if (ret) {
				ksplice_text_finish(tr);
				ksplice_set_reason(tr->sts[0], KSPLICE_NOMEM,
						   "function %s: cannot map its jump window %pS for writing (%d)",
						   fs->f->name,
						   (void *)fs->js->site, ret);
				return ret;
			}
		}
	return 0;
}

/**
 * ksplice_text_finish - after stop_machine: unmap what
 *	ksplice_text_prepare() mapped
 * @tr:	the round
 */
void ksplice_text_finish(struct ksplice_text_round *tr)
{
	unsigned int i, j;

	for (i = 0; i < tr->n; i++)
		for (j = 0; j < tr->sts[i]->u->nr_funcs; j++) {
			struct ksplice_func_state *fs = &tr->sts[i]->funcs[j];

			if (fs->jump_map)
				ksplice_arch_unmap_window(fs->jump_map);
			fs->jump_map = NULL;
			fs->jump_alias = NULL;
		}
}

/**
 * ksplice_text_check - inside stop_machine: every window still holds what
 *	the round expects
 * @tr:	the round
 *
 * Returns 0, or -EIO with the reason set on the update whose window
 * changed (in *@failed): a kprobe or another patcher wrote there.
 */
int ksplice_text_check(struct ksplice_text_round *tr,
		       struct ksplice_state **failed)
{
	char buf[KSPLICE_MSG_LEN / 2];
	unsigned int i, j;

	for (i = 0; i < tr->n; i++) {
		struct ksplice_state *st = tr->sts[i];

		for (j = 0; j < st->u->nr_funcs; j++) {
			struct ksplice_func_state *fs = &st->funcs[j];
			struct ksplice_jsite *js = fs->js;
			const char *who;

			fs->jump_skip = false;
			if (!js || !memcmp((void *)js->site, fs->jump_from,
					   js->len))
				continue;
			who = ksplice_kprobe_in(js->site,
						js->site + js->len - 1, buf,
						sizeof(buf));
			/*
			 * A forced reverse cannot fail (its code is going
			 * away): the window is left to whoever wrote it.
			 */
			if (st->forced) {
				fs->jump_skip = true;
				continue;
			}
			ksplice_set_reason(st, KSPLICE_CODE_CHANGED,
					   "function %s: its entry %pS holds %*ph, not %*ph: %s wrote there; remove it and try again",
					   fs->f->name, (void *)js->site,
					   (int)js->len, (void *)js->site,
					   (int)js->len, fs->jump_from,
					   who ?: "another text patcher");
			*failed = st;
			return -EIO;
		}
	}
	return 0;
}

/*
 * The writer's side of one step: every other CPU serialises and acks.
 * The writer serialises itself too: it wrote through another mapping.
 * Inline, as everything between the first write of a round and its last
 * step: no call the function tracer or a kprobe could take there (the
 * raw atomics are not instrumented either).
 */
static __always_inline void ksplice_text_step(struct ksplice_text_round *tr)
{
	unsigned int others = num_online_cpus() - 1;

	ksplice_arch_sync_core();
	ksplice_atomic_set(&tr->acked, 0);
	/* Fully ordered: the reset and the bytes before the new step. */
	ksplice_atomic_inc_return(&tr->step);
	while (ksplice_atomic_read(&tr->acked) < others)
		cpu_relax();
}

/*
 * One window's bytes [@from, @to) of its jump_to, written. On x86 all of
 * them: the first byte holds the int3 by the time it is written, and an
 * int3 covers whatever text_poke() calls. On arm64 word by word through
 * the alias ksplice_text_prepare() mapped, skipping the words that do not
 * change (the window holds jump_from: ksplice_text_check()), with
 * nothing out of line but ksplice_arch_poke_alias() (notrace,
 * NOKPROBE_SYMBOL).
 */
static __always_inline void ksplice_text_poke(struct ksplice_func_state *fs,
					      u32 from, u32 to)
{
#ifdef CONFIG_X86
	if (to > from)
		ksplice_arch_poke_stopped((void *)fs->js->site + from,
					  fs->jump_to + from, to - from);
#else
	u32 o;

	for (o = from; o + 4 <= to; o += 4)
		if (get_unaligned_le32(fs->jump_from + o) !=
		    get_unaligned_le32(fs->jump_to + o))
			ksplice_arch_poke_alias(fs->jump_alias + o,
						(void *)fs->js->site + o,
						fs->jump_to + o);
#endif
}

/**
 * ksplice_text_shut - inside stop_machine, on the CPU that checked the
 *	stacks, before anything is switched or written: every CPU has masked
 *	the NMI-like events of a round that writes several words
 * @tr:		the round, checked (ksplice_text_check())
 * @failed:	set to the round's first update on failure
 *
 * The followers mask before their first ack (ksplice_text_follow()), so
 * after this step each has masked or said it could not. Returns 0, or
 * -EAGAIN with the reason set when a CPU could not: the round then
 * changes nothing, and each CPU unmasks only what it masked. A forced
 * reverse that the firmware kept refusing (nmi_mask_optional) goes on
 * without the mask on that CPU: its code is going away, and
 * ksplice_text_after() says so.
 */
int notrace ksplice_text_shut(struct ksplice_text_round *tr,
			      struct ksplice_state **failed)
{
	int v;

	if (!tr->multiword)
		return 0;
	tr->writer_masked = ksplice_text_mask(tr, true);
	ksplice_text_step(tr);
	/* The followers' records, before their acks (pairs with cmpxchg). */
	smp_rmb();
	v = ksplice_atomic_read(&tr->nmi_mask_failed);
	if (!v)
		return 0;
	if (tr->nmi_mask_optional) {
		tr->nmi_unmasked = v;
		return 0;
	}
	if (tr->writer_masked)
		ksplice_text_unmask(tr);
	tr->writer_masked = false;
	ksplice_set_reason(tr->sts[0], KSPLICE_NMI_MASK,
			   "CPU %d could not mask SDEI events (error %d), and one taken there could run a jump of several words half written: nothing was changed; try again",
			   v >> 12, -(v & 0xfff));
	*failed = tr->sts[0];
	return -EAGAIN;
}
NOKPROBE_SYMBOL(ksplice_text_shut);

/**
 * ksplice_text_write - inside stop_machine, on the CPU that checked the
 *	stacks: write every window of the round
 * @tr:	the round, checked (ksplice_text_check())
 *
 * The other CPUs are in ksplice_text_follow(). Cannot fail.
 */
void notrace ksplice_text_write(struct ksplice_text_round *tr)
{
	unsigned int i, j;
	bool any = false;

	for (i = 0; i < tr->n; i++)
		any |= ksplice_text_used(tr->sts[i]);
	if (!any)
		return;
	/* Pairs with the smp_load_acquire() of the int3 handler. */
	smp_store_release(&ksplice_text_writing, tr);
#ifdef CONFIG_X86
	/* The first byte of every window: an int3, then the rest. */
	for (i = 0; i < tr->n; i++)
		for (j = 0; j < tr->sts[i]->u->nr_funcs; j++) {
			struct ksplice_func_state *fs = &tr->sts[i]->funcs[j];
			static const u8 int3 = 0xcc;

			if (fs->js && !fs->jump_skip)
				ksplice_arch_poke_stopped((void *)fs->js->site,
							  &int3, 1);
		}
	ksplice_text_step(tr);
	ksplice_text_test_nmi(tr);
	for (i = 0; i < tr->n; i++)
		for (j = 0; j < tr->sts[i]->u->nr_funcs; j++) {
			struct ksplice_func_state *fs = &tr->sts[i]->funcs[j];

			if (fs->js && !fs->jump_skip)
				ksplice_text_poke(fs, 1, fs->js->len);
		}
	ksplice_text_step(tr);
	ksplice_text_test_nmi(tr);
#else
	/*
	 * arm64: in a round that changes any window of several words
	 * (the long form going in, out, or to another destination), every
	 * CPU has masked SDEI (ksplice_text_shut()); the words after the
	 * first that change are written first, and the first words last.
	 * Nothing runs the function meanwhile (ksplice_text.c's header says
	 * why).
	 */
	if (tr->multiword) {
		for (i = 0; i < tr->n; i++)
			for (j = 0; j < tr->sts[i]->u->nr_funcs; j++) {
				struct ksplice_func_state *fs =
					&tr->sts[i]->funcs[j];

				if (fs->js && !fs->jump_skip)
					ksplice_text_poke(fs, 4, fs->js->len);
			}
		ksplice_text_step(tr);
	}
#endif
	/* x86: the first byte, which completes the jump; arm64: the first word. */
	for (i = 0; i < tr->n; i++)
		for (j = 0; j < tr->sts[i]->u->nr_funcs; j++) {
			struct ksplice_func_state *fs = &tr->sts[i]->funcs[j];

			if (fs->js && !fs->jump_skip)
				ksplice_text_poke(fs, 0, IS_ENABLED(CONFIG_X86) ?
						  1 : 4);
		}
	ksplice_text_step(tr);
	if (tr->writer_masked)
		ksplice_text_unmask(tr);
	WRITE_ONCE(ksplice_text_writing, NULL);
}
NOKPROBE_SYMBOL(ksplice_text_write);

/**
 * ksplice_text_follow - inside stop_machine, on every other CPU: serialise
 *	after each step of the writer until it is done
 * @tr:	the round
 */
void notrace ksplice_text_follow(struct ksplice_text_round *tr)
{
	bool masked = false;
	int seen = 0, step;

	/* Before the first ack: ksplice_text_shut() waits for it. */
	if (tr->multiword)
		masked = ksplice_text_mask(tr, false);
	while (!READ_ONCE(tr->done)) {
		step = ksplice_atomic_read(&tr->step);
		if (step != seen) {
			/* Pairs with the writer's atomic_inc_return(). */
			smp_rmb();
			ksplice_arch_sync_core();
			seen = step;
			ksplice_atomic_inc(&tr->acked);
		}
		cpu_relax();
	}
	if (masked)
		ksplice_text_unmask(tr);
}
NOKPROBE_SYMBOL(ksplice_text_follow);

/**
 * ksplice_text_after - after the stop_machine of a round: every mask of
 *	NMI-like events was undone, and what a forced reverse could not mask
 *	is logged
 * @tr:	the round
 */
void ksplice_text_after(struct ksplice_text_round *tr)
{
	int v = atomic_read(&tr->nmi_masked);

	WARN_ONCE(v, "ksplice: %d CPUs left with NMI-like events masked by a round\n",
		  v);
	if (tr->nmi_unmasked)
		pr_warn("%s: reversed with SDEI events not masked on CPU %d (error %d): the firmware kept refusing, and the update's code is going away\n",
			tr->sts[0]->u->id, tr->nmi_unmasked >> 12,
			-(tr->nmi_unmasked & 0xfff));
}
