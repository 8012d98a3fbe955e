// SPDX-License-Identifier: GPL-2.0
/*
 * ksplice_stack.c - the stack check: no task may be inside the code an
 * apply or reverse takes out of use when the switch flips.
 *
 * The check proper runs inside stop_machine (ksplice_check_stacks()), on
 * one CPU while the others spin. To keep that pause short, every task is
 * checked just before it (the prescan), and the pause checks only the
 * tasks that can have changed since: those the prescan could not call
 * clean, and those that ran since, which a probe on the sched_switch
 * tracepoint logs from before the prescan starts. Where that log cannot be
 * trusted, the pause walks every task instead.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bsearch.h>
#include <linux/delay.h>
#include <linux/hash.h>
#include <linux/mm.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/task_stack.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/sort.h>
#include <linux/tracepoint.h>
#include "ksplice_internal.h"

#define KSPLICE_STACK_ENTRIES	128
/* Tasks a CPU's switch log holds; more make the pause walk every task. */
#define KSPLICE_LOG_LEN		4096
#define KSPLICE_LOG_HASH_BITS	8
/* Room in the prescan's tables for tasks created while it counts. */
#define KSPLICE_PRESCAN_SLACK	256

/*
 * Test only: sleep this long between the prescan and stop_machine, and log
 * what each round's prescan and pause saw (scan_lab_test.go forces a task
 * into the code in that window). Off unless set when the engine is loaded.
 */
static unsigned int prescan_delay_ms;
module_param(prescan_delay_ms, uint, 0400);
MODULE_PARM_DESC(prescan_delay_ms, "tests: sleep between the first round's prescan and stop_machine, log each round");

/*
 * Stack traces of the stack check. Only one CPU at a time uses it: the
 * prescan's (under ksplice_mutex) or the stop_machine callback's.
 */
static unsigned long *ksplice_stack;

static void ksplice_add_conflict(struct ksplice_state *st,
				 struct task_struct *t, const char *func,
				 const char *part, unsigned long offset,
				 bool unreliable)
{
	struct ksplice_conflict *c;

	if (st->nr_conflicts == KSPLICE_MAX_CONFLICTS)
		return;
	c = &st->conflicts[st->nr_conflicts++];
	c->pid = task_pid_nr(t);
	/*
	 * Inside stop_machine: get_task_comm() takes task_lock(), a sleeping
	 * lock on PREEMPT_RT. Nothing can rename @t while every CPU is
	 * stopped, so a plain copy reads a stable name, as the kernel's own
	 * lockless readers of ->comm (%s of current->comm) do.
	 */
	memcpy(c->comm, t->comm, sizeof(c->comm));
	c->comm[sizeof(c->comm) - 1] = '\0';
	c->func = func;
	c->part = part;
	c->offset = offset;
	c->unreliable = unreliable;
}

/*
 * Whether @a is inside [@start, @start + @len). An address just past the
 * end is not: as a return address it follows a call the compiler put last,
 * to a function that does not return, so the task never runs the rest of
 * the function again (livepatch's stack check draws the same line); as a
 * word of a stack scan it is most often a pointer to the next function,
 * such as a kthread's thread function laid out after the one replaced.
 */
static bool ksplice_in(unsigned long a, unsigned long start, unsigned long len)
{
	return a >= start && a - start < len;
}

/*
 * Whether @a is in code that the operation takes out of use: the patched
 * function and, when applying, its .cold part and the code run-pre matched
 * (an earlier replacement), or, when reversing, our replacement and
 * anything else in the update module (carried .cold parts and helpers,
 * hooks), whose text may be freed once the update is reversed.
 */
static const char *ksplice_hit(struct ksplice_state *st, unsigned long a,
			       bool reverse, const char **part,
			       unsigned long *offset)
{
	struct module *mod = st->u->mod;
	unsigned int i;

	*part = "";
	for (i = 0; i < st->u->nr_funcs; i++) {
		struct ksplice_func_state *fs = &st->funcs[i];
		unsigned long other = reverse ?
			(unsigned long)fs->f->new_func : fs->code;
		unsigned long other_len = reverse ?
			fs->f->new_size : fs->code_size;

		if (ksplice_in(a, fs->addr, fs->addr_size)) {
			*offset = a - fs->addr;
			return fs->f->name;
		}
		if (!reverse && fs->cold_size &&
		    ksplice_in(a, fs->cold, fs->cold_size)) {
			*part = ".cold";
			*offset = a - fs->cold;
			return fs->f->name;
		}
		if (ksplice_in(a, other, other_len)) {
			*offset = a - other;
			return reverse ? "(replacement)" : "(earlier replacement)";
		}
	}
	if (reverse && within_module_core(a, mod)) {
		*offset = a - ksplice_module_text_base(mod);
		return "(update module)";
	}
	return NULL;
}

/*
 * The stack check where the kernel has no reliable unwinder (arm64 in
 * 6.1), as Ksplice did it: every word of the task's stack, from its saved
 * stack pointer to the top, is taken for a code address. The unwinder
 * there (stack_trace_save_tsk()) is no substitute: it leaves out
 * __sched and lock functions, stops at a fixed depth with the rest
 * counted as clean, and misses the caller of a function interrupted
 * before it saved its frame record, whose return address is in the
 * pt_regs that the interrupt saved on the stack. A word of data that
 * happens to look like an address in the code makes the check busy:
 * conservative, never wrong. Return addresses are stripped of their
 * pointer authentication code first.
 */
/*
 * The bounds of the code ksplice_hit() looks for: most words of a stack
 * are not code addresses near them, and one comparison each, rather than
 * a walk of every function's ranges, keeps the scan cheap.
 */
void ksplice_scan_bounds(struct ksplice_state *st, bool reverse)
{
	unsigned long lo = ULONG_MAX, hi = 0;
	unsigned int i;

#define KSPLICE_BOUND(start, len)				\
	do {							\
		if ((len) && (start) < lo)			\
			lo = (start);				\
		if ((len) && (start) + (len) > hi)		\
			hi = (start) + (len);			\
	} while (0)
	for (i = 0; i < st->u->nr_funcs; i++) {
		struct ksplice_func_state *fs = &st->funcs[i];

		KSPLICE_BOUND(fs->addr, fs->addr_size);
		if (reverse) {
			KSPLICE_BOUND((unsigned long)fs->f->new_func,
				      fs->f->new_size);
		} else {
			KSPLICE_BOUND(fs->cold, fs->cold_size);
			KSPLICE_BOUND(fs->code, fs->code_size);
		}
	}
#undef KSPLICE_BOUND
	st->scan_lo = lo;
	st->scan_hi = hi;
}

/* Whether ksplice_hit() can find @a at all: one comparison for most. */
static bool ksplice_near(struct ksplice_state *st, unsigned long a,
			 bool reverse)
{
	return (a >= st->scan_lo && a <= st->scan_hi) ||
		(reverse && within_module_core(a, st->u->mod));
}

/*
 * Return trampolines: the function graph tracer (return_to_handler) and
 * rethook (kretprobes) replace a return address on the stack with their
 * trampoline's and keep the real one aside, where the reliable unwinder
 * finds it and a scan of the stack's words does not.
 */
static struct {
	const char *name;
	bool built;		/* the kernel has it */
	const char *why;	/* what holds the return address aside */
	unsigned long addr, size;
} ksplice_ret_tramps[] = {
	{ "return_to_handler", IS_ENABLED(CONFIG_FUNCTION_GRAPH_TRACER),
	  "the function graph tracer holds a return address aside (return_to_handler)" },
	{ "arch_rethook_trampoline", IS_ENABLED(CONFIG_RETHOOK),
	  "a kretprobe or fprobe holds a return address aside (arch_rethook_trampoline)" },
	/* kretprobes of their own where they are not on rethook (arm64) */
	{ "__kretprobe_trampoline", IS_ENABLED(CONFIG_KRETPROBES) &&
	  !IS_ENABLED(CONFIG_KRETPROBE_ON_RETHOOK),
	  "a kretprobe holds a return address aside (__kretprobe_trampoline)" },
};

/* Whether the word scan may clear a task before the unwinder walks it. */
static bool ksplice_prescreen = true;

/*
 * The span of the trampolines found: one comparison pair rules out nearly
 * every word of a stack (the scan runs inside stop_machine).
 */
static unsigned long ksplice_ret_tramp_lo = ULONG_MAX, ksplice_ret_tramp_hi;

/* What holds a return address aside if @a is its trampoline, or NULL. */
static const char *ksplice_ret_tramp(unsigned long a)
{
	unsigned int i;

	if (a < ksplice_ret_tramp_lo || a > ksplice_ret_tramp_hi)
		return NULL;
	for (i = 0; i < ARRAY_SIZE(ksplice_ret_tramps); i++)
		if (ksplice_ret_tramps[i].size &&
		    ksplice_in(a, ksplice_ret_tramps[i].addr,
			       ksplice_ret_tramps[i].size))
			return ksplice_ret_tramps[i].why;
	return NULL;
}

/*
 * Whether a word of @t's stack, from its saved stack pointer to the top,
 * is in the code ksplice_hit() looks for, or is a return trampoline's
 * address; with @record, the first such word is recorded as @t's
 * conflict. Without @record (x86's screen before the unwinder), the caller
 * then walks the stack, which finds the return address the trampoline
 * holds aside. With it (the check where there is no reliable unwinder,
 * arm64), that address is out of the scan's sight, so the task may be in
 * the code: busy, retried, and refused with the trampoline named if the
 * graph tracer or the kretprobe stays in the way.
 */
static int ksplice_scan_task(struct ksplice_state *st, struct task_struct *t,
			     bool reverse, bool record)
{
	unsigned long *base, *top, *p, offset, w;
	const char *func, *part;

#ifdef CONFIG_THREAD_INFO_IN_TASK
	/*
	 * A dead task's stack may be freed already. Nothing frees or takes
	 * a stack while every CPU is stopped, so reading the count is enough.
	 */
	if (!refcount_read(&t->stack_refcount))
		return 0;
#endif
	base = task_stack_page(t);
	top = base + THREAD_SIZE / sizeof(*base);
	p = (unsigned long *)ALIGN(ksplice_arch_saved_sp(t), sizeof(*p));
	if (p < base || p >= top)
		p = base;
	for (; p < top; p++) {
		w = ksplice_arch_code_addr(READ_ONCE_NOCHECK(*p));
		part = ksplice_ret_tramp(w);
		if (part) {
			if (record)
				ksplice_add_conflict(st, t, "(return trampoline)",
						     part, 0, true);
			return -EBUSY;
		}
		if (!ksplice_near(st, w, reverse))
			continue;
		func = ksplice_hit(st, w, reverse, &part, &offset);
		if (func) {
			if (record)
				ksplice_add_conflict(st, t, func, part, offset,
						     false);
			return -EBUSY;
		}
	}
	return 0;
}

static int ksplice_check_task(struct ksplice_state *st, struct task_struct *t,
			      bool reverse)
{
	unsigned long offset;
	const char *func, *part;
	int i, nr, ret;
	u64 t0;

	if (!ksplice_kernel.save_stack_reliable) {
		t0 = ksplice_prof_now();
		ret = ksplice_scan_task(st, t, reverse, true);
		if (ksplice_profiling()) {
			st->prof.scan += ktime_get_ns() - t0;
			st->prof.scanned++;
		}
		return ret;
	}
	/*
	 * Every return address the unwinder can report, and the ip of every
	 * pt_regs it walks through, is a word of the stack above the saved
	 * stack pointer: when no such word is in the code, the task is not
	 * in it, however its stack would unwind (deep or unreliable), unless
	 * a return trampoline holds a return address aside. Only the other
	 * tasks are walked, for the precise answer (a stale word is no return
	 * address). The scan costs a few comparisons per word; the walk, an
	 * ORC lookup and more per frame.
	 */
	if (ksplice_prescreen) {
		t0 = ksplice_prof_now();
		ret = ksplice_scan_task(st, t, reverse, false);
		if (ksplice_profiling()) {
			st->prof.scan += ktime_get_ns() - t0;
			st->prof.scanned++;
		}
		if (!ret)
			return 0;
	}
	t0 = ksplice_prof_now();
	nr = ksplice_kernel.save_stack_reliable(t, ksplice_stack,
						KSPLICE_STACK_ENTRIES);
	if (ksplice_profiling()) {
		st->prof.unwind += ktime_get_ns() - t0;
		st->prof.unwound++;
	}
	if (nr < 0) {
		ksplice_add_conflict(st, t, "(unreliable stack)",
				     "the unwinder cannot walk it reliably", 0,
				     true);
		return -EBUSY;
	}
	for (i = 0; i < nr; i++) {
		if (!ksplice_near(st, ksplice_stack[i], reverse))
			continue;
		func = ksplice_hit(st, ksplice_stack[i], reverse, &part,
				   &offset);
		if (func) {
			ksplice_add_conflict(st, t, func, part, offset, false);
			return -EBUSY;
		}
	}
	return 0;
}

/*
 * The switch log. A task's stack changes only while the task runs, and a
 * task that ran leaves its CPU only through __schedule(), which fires
 * sched_switch with it as @prev. Inside stop_machine every CPU runs its
 * stopper, so every task that ran since the log started was switched away
 * from since, and is in the log of the CPU it left. The probe holds a
 * reference on each task it logs: a logged task that exits meanwhile
 * stays a task_struct the pause can read (its stack may be gone, which
 * ksplice_check_task() sees), never freed memory. The references are
 * dropped after stop_machine, once the probe is unregistered and no CPU
 * can still be running it (tracepoint_synchronize_unregister()).
 *
 * sched_switch is not exported; for_each_kernel_tracepoint() finds it.
 */
struct ksplice_switch_log {
	unsigned long switches;	/* every switch the probe saw here */
	unsigned int n;		/* tasks in @t */
	bool overflow;		/* a task did not fit */
	/* The last task logged per hash: most switches are repeats. */
	struct task_struct *recent[1 << KSPLICE_LOG_HASH_BITS];
	struct task_struct *t[KSPLICE_LOG_LEN];
};

static struct tracepoint *ksplice_sched_switch;

/*
 * One round's state, from ksplice_prescan() to ksplice_prescan_end();
 * protected by ksplice_mutex, read by the stop_machine callback.
 */
static struct {
	/* Per possible CPU, NULL unless the probe is registered. */
	struct ksplice_switch_log **logs;
	/* Each online CPU's switches just before stop_machine. */
	unsigned long *marks;
	/* Why the pause walks every task, or NULL: the log is enough. */
	const char *walk;
	/* Clean at the prescan, sorted by task: what the walk skips. */
	struct ksplice_seen *seen;
	unsigned int nr_seen;
	/* Tasks the prescan did not find clean, with a reference each. */
	struct task_struct **again;
	unsigned int nr_again;
	unsigned int nr_busy;	/* of them: found inside the code */
	/* With prescan_delay_ms: which tasks the prescan found inside. */
	char inside[128];
} ksplice_round_scan;

static void ksplice_switch_probe(void *data, bool preempt,
				 struct task_struct *prev,
				 struct task_struct *next,
				 unsigned int prev_state)
{
	struct ksplice_switch_log **logs = data;
	struct ksplice_switch_log *l = logs[smp_processor_id()];
	unsigned int h;

	WRITE_ONCE(l->switches, l->switches + 1);
	/* Idle tasks are checked apart, on every round. */
	if (is_idle_task(prev))
		return;
	h = hash_ptr(prev, KSPLICE_LOG_HASH_BITS);
	/* A reference is held on it: @prev cannot be another task now. */
	if (l->recent[h] == prev)
		return;
	if (l->n == KSPLICE_LOG_LEN) {
		WRITE_ONCE(l->overflow, true);
		return;
	}
	l->recent[h] = get_task_struct(prev);
	l->t[l->n] = prev;
	WRITE_ONCE(l->n, l->n + 1);
}

static void ksplice_find_sched_switch(struct tracepoint *tp, void *priv)
{
	if (!strcmp(tp->name, "sched_switch"))
		ksplice_sched_switch = tp;
}

static void ksplice_logs_free(struct ksplice_switch_log **logs)
{
	unsigned int cpu, i;

	for_each_possible_cpu(cpu) {
		struct ksplice_switch_log *l = logs[cpu];

		if (!l)
			continue;
		for (i = 0; i < l->n; i++)
			put_task_struct(l->t[i]);
		kvfree(l);
	}
	kfree(logs);
}

static int ksplice_log_nop(void *data)
{
	return 0;
}

/*
 * Starts the log; returns why the pause cannot rely on it, or NULL. The
 * probe must be seen running on every CPU before the prescan starts: the
 * tracepoint is enabled by patching __schedule(), and a CPU that still
 * ran the old instruction would switch tasks unlogged. A work item run on
 * each CPU makes it switch to a kworker (and, on arm64, synchronise its
 * instruction stream through the interrupt that wakes it).
 */
static const char *ksplice_log_start(void)
{
	struct ksplice_switch_log **logs;
	unsigned int cpu;
	int ret;

	if (!ksplice_sched_switch)
		return "no sched_switch tracepoint";
	logs = kcalloc(nr_cpu_ids, sizeof(*logs), GFP_KERNEL);
	ksplice_round_scan.marks = kcalloc(nr_cpu_ids,
					   sizeof(*ksplice_round_scan.marks),
					   GFP_KERNEL);
	if (!logs || !ksplice_round_scan.marks)
		goto nomem;
	for_each_possible_cpu(cpu) {
		logs[cpu] = kvzalloc(sizeof(*logs[cpu]), GFP_KERNEL);
		if (!logs[cpu])
			goto nomem;
	}
	ret = tracepoint_probe_register(ksplice_sched_switch,
					ksplice_switch_probe, logs);
	if (ret) {
		ksplice_logs_free(logs);
		pr_warn("sched_switch: cannot register a probe: %d\n", ret);
		return "sched_switch: no probe";
	}
	ksplice_round_scan.logs = logs;
	for_each_online_cpu(cpu) {
		smp_call_on_cpu(cpu, ksplice_log_nop, NULL, false);
		if (!READ_ONCE(logs[cpu]->switches))
			return "the sched_switch probe did not run on every CPU";
	}
	return NULL;

nomem:
	if (logs)
		ksplice_logs_free(logs);
	return "no memory for the switch log";
}

static void ksplice_log_end(void)
{
	struct ksplice_switch_log **logs = ksplice_round_scan.logs;

	if (!logs)
		return;
	ksplice_round_scan.logs = NULL;
	if (tracepoint_probe_unregister(ksplice_sched_switch,
					ksplice_switch_probe, logs)) {
		/* It may still run: keep what it writes to, and its code. */
		pr_err("sched_switch: cannot unregister the probe: its log is leaked\n");
		__module_get(THIS_MODULE);
		return;
	}
	tracepoint_synchronize_unregister();
	ksplice_logs_free(logs);
}

/*
 * The prescan. Inside stop_machine, every stack costs the pause a walk
 * (x86) or a scan of every word (arm64), although nearly every task has
 * been asleep since long before. So, just before stop_machine, each task
 * is checked the same way while task_call_func() keeps it off its CPU
 * (it holds the task's pi_lock, and its runqueue's lock if it is queued).
 * A task found clean is remembered; every other one (running, exiting,
 * the caller, or inside the code) is kept, with a reference, to be
 * checked again inside stop_machine.
 *
 * Inside stop_machine, a clean task that has not run since has the stack
 * the prescan saw. The tasks that ran are those in the switch log (above)
 * when it was on from before the prescan to stop_machine; else, those
 * whose context switch count (nvcsw + nivcsw, remembered with each clean
 * task) moved: __schedule() counts every switch away from a task, a task
 * gets on a CPU only by being switched to and leaves it only by being
 * switched away from. A task created after the prescan walked past it
 * either never ran, and its stack holds only the frame that starts it, or
 * ran, and is logged (or has no entry in the table). Without
 * task_call_func() in kallsyms, every task is checked inside.
 */
struct ksplice_seen {
	const struct task_struct *t;
	u64 start_time;		/* tells a task from a later one at @t */
	unsigned long nsw;	/* nvcsw + nivcsw when it was checked */
};

struct ksplice_prescan_ctx {
	struct ksplice_state **sts;
	unsigned int n;
	bool reverse;
	unsigned long nsw;
};

static unsigned long ksplice_switches(const struct task_struct *t)
{
	return READ_ONCE(t->nvcsw) + READ_ONCE(t->nivcsw);
}

/* task_call_func() callback: @t cannot run, be woken or exit meanwhile. */
static int ksplice_prescan_task(struct task_struct *t, void *arg)
{
	struct ksplice_prescan_ctx *ctx = arg;
	unsigned int i;

	/*
	 * A running task's stack moves under us; an exiting one's may be
	 * freed once it has switched away for the last time.
	 */
	if (READ_ONCE(t->on_cpu) || t->exit_state)
		return -EAGAIN;
	ctx->nsw = ksplice_switches(t);
	for (i = 0; i < ctx->n; i++) {
		if (ksplice_check_task(ctx->sts[i], t, ctx->reverse))
			return -EBUSY;
	}
	return 0;
}

static int ksplice_seen_cmp(const void *a, const void *b)
{
	const struct ksplice_seen *x = a, *y = b;

	if (x->t == y->t)
		return 0;
	return x->t < y->t ? -1 : 1;
}

/* Walks every task; returns why the pause cannot rely on it, or NULL. */
static const char *ksplice_prescan_walk(struct ksplice_prescan_ctx *ctx)
{
	struct task_struct *g, *t;
	unsigned int max = KSPLICE_PRESCAN_SLACK;
	const char *why = NULL;
	int ret;

	rcu_read_lock();
	for_each_process_thread(g, t)
		max++;
	rcu_read_unlock();
	ksplice_round_scan.seen = kvcalloc(max, sizeof(struct ksplice_seen),
					   GFP_KERNEL);
	ksplice_round_scan.again = kvcalloc(max, sizeof(struct task_struct *),
					    GFP_KERNEL);
	if (!ksplice_round_scan.seen || !ksplice_round_scan.again)
		return "no memory for the prescan";
	rcu_read_lock();
	for_each_process_thread(g, t) {
		if (ksplice_round_scan.nr_seen + ksplice_round_scan.nr_again ==
		    max) {
			/* Unvisited tasks may be old ones: walk them all. */
			why = "tasks created during the prescan";
			break;
		}
		ret = t == current ? -EAGAIN :
			ksplice_kernel.task_call_func(t, ksplice_prescan_task,
						      ctx);
		if (!ret) {
			ksplice_round_scan.seen[ksplice_round_scan.nr_seen++] =
				(struct ksplice_seen) {
					.t = t, .start_time = t->start_time,
					.nsw = ctx->nsw,
				};
			continue;
		}
		if (ret == -EBUSY)
			ksplice_round_scan.nr_busy++;
		/* Listed under RCU: its usage count is not 0 yet. */
		ksplice_round_scan.again[ksplice_round_scan.nr_again++] =
			get_task_struct(t);
	}
	rcu_read_unlock();
	sort(ksplice_round_scan.seen, ksplice_round_scan.nr_seen,
	     sizeof(struct ksplice_seen), ksplice_seen_cmp, NULL);
	return why;
}

/* Test only (prescan_delay_ms): which tasks the prescan found inside. */
static void ksplice_note_inside(struct ksplice_state *st)
{
	char *buf = ksplice_round_scan.inside;
	size_t len = strlen(buf), size = sizeof(ksplice_round_scan.inside);
	unsigned int i;

	for (i = 0; i < st->nr_conflicts && len < size; i++) {
		const struct ksplice_conflict *c = &st->conflicts[i];

		if (c->unreliable)
			len += scnprintf(buf + len, size - len,
					 " %d (%s) %s: %s", c->pid, c->comm,
					 c->func, c->part);
		else
			len += scnprintf(buf + len, size - len,
					 " %d (%s) %s%s+0x%lx", c->pid, c->comm,
					 c->func, c->part, c->offset);
	}
}

/*
 * Prepares the pause of round @attempt over @sts (all of them clean):
 * starts the switch log, then walks every task. Whatever fails only makes
 * the pause check more tasks; ksplice_prescan_end() undoes it all.
 */
void ksplice_prescan(struct ksplice_state **sts, unsigned int n,
		     bool reverse, unsigned int attempt)
{
	struct ksplice_prescan_ctx ctx = { sts, n, reverse, 0 };
	const char *why;
	unsigned int cpu, i;

	for (i = 0; i < n; i++)
		memset(&sts[i]->pause, 0, sizeof(sts[i]->pause));
	if (!ksplice_kernel.task_call_func) {
		ksplice_round_scan.walk = "no task_call_func in kallsyms";
		return;
	}
	ksplice_round_scan.walk = ksplice_log_start();
	why = ksplice_prescan_walk(&ctx);
	if (!ksplice_round_scan.walk)
		ksplice_round_scan.walk = why;
	/* The prescan's conflicts are not the round's. */
	for (i = 0; i < n; i++) {
		if (prescan_delay_ms)
			ksplice_note_inside(sts[i]);
		sts[i]->nr_conflicts = 0;
	}
	/*
	 * Only the first round waits: the window a test needs is one round's,
	 * and a refused apply's later rounds would each add the wait.
	 */
	if (prescan_delay_ms && attempt == 1) {
		pr_info("%s: prescan done, stop_machine in %u ms\n",
			sts[0]->u->id, prescan_delay_ms);
		msleep(prescan_delay_ms);
	}
	if (ksplice_round_scan.logs)
		for_each_online_cpu(cpu)
			ksplice_round_scan.marks[cpu] =
				READ_ONCE(ksplice_round_scan.logs[cpu]->switches);
}

/*
 * After the stop_machine of a round: stops the log, drops the references,
 * and records (and, when the log was not enough, says) how the pause
 * checked the stacks.
 */
void ksplice_prescan_end(struct ksplice_state **sts, unsigned int n,
			 unsigned int attempt, int ret)
{
	struct ksplice_pause_stats *ps = &sts[0]->pause;
	unsigned int i;

	ksplice_log_end();
	for (i = 0; i < ksplice_round_scan.nr_again; i++)
		put_task_struct(ksplice_round_scan.again[i]);
	for (i = 0; i < n; i++) {
		sts[i]->pause.prescan_clean = ksplice_round_scan.nr_seen;
		sts[i]->pause.prescan_again = ksplice_round_scan.nr_again;
		sts[i]->pause.prescan_busy = ksplice_round_scan.nr_busy;
	}
	if (ps->walk)
		pr_info("%s: the pause checked every task: %s\n",
			sts[0]->u->id, ps->walk);
	if (prescan_delay_ms)
		pr_info("%s: attempt %u: prescan: %u clean, %u to check again, %u inside%s; pause: %u checked (%s)%s%s\n",
			sts[0]->u->id, attempt, ps->prescan_clean,
			ps->prescan_again, ps->prescan_busy,
			ksplice_round_scan.inside, ps->checked,
			ps->walk ? "every task" : "switch log",
			ret == -EBUSY ? ": " : "",
			ret == -EBUSY ? sts[0]->message : "");
	kvfree(ksplice_round_scan.seen);
	kvfree(ksplice_round_scan.again);
	kfree(ksplice_round_scan.marks);
	memset(&ksplice_round_scan, 0, sizeof(ksplice_round_scan));
}

/*
 * Inside stop_machine: why the switch log does not cover every task that
 * ran since the prescan, or NULL. Each online CPU must have logged its
 * switch to its stopper since the marks: a CPU that did not was not
 * running the probe.
 */
static const char *ksplice_log_gap(void)
{
	struct ksplice_switch_log **logs = ksplice_round_scan.logs;
	unsigned int cpu;

	if (ksplice_round_scan.walk)
		return ksplice_round_scan.walk;
	for_each_possible_cpu(cpu)
		if (READ_ONCE(logs[cpu]->overflow))
			return "the switch log overflowed";
	for_each_online_cpu(cpu)
		if (READ_ONCE(logs[cpu]->switches) ==
		    ksplice_round_scan.marks[cpu])
			return "a CPU's switch to stop_machine is not logged";
	return NULL;
}

/* Inside stop_machine: @t was clean at the prescan and has not run since. */
static bool ksplice_seen_unchanged(const struct task_struct *t)
{
	struct ksplice_seen key = { .t = t }, *s;

	if (!ksplice_round_scan.nr_seen)
		return false;
	s = bsearch(&key, ksplice_round_scan.seen, ksplice_round_scan.nr_seen,
		    sizeof(key), ksplice_seen_cmp);
	return s && s->start_time == t->start_time &&
		s->nsw == ksplice_switches(t);
}

/* Inside stop_machine: checks @t unless it is a stopper (on a CPU). */
static int ksplice_check_one(struct ksplice_state *st, struct task_struct *t,
			     bool reverse)
{
	if (t == current || READ_ONCE(t->on_cpu))
		return 0;
	st->pause.checked++;
	return ksplice_check_task(st, t, reverse);
}

/*
 * Inside stop_machine: every task except the stoppers is off its CPU, its
 * state saved on its stack, interrupted ones with their pt_regs, which the
 * unwinder walks through. Stoppers (on_cpu) run multi_cpu_stop() only.
 * A task logged twice (on two CPUs) is checked twice: cheaper than
 * finding out.
 */
int ksplice_check_stacks(struct ksplice_state *st, bool reverse)
{
	struct task_struct *g, *t;
	unsigned int cpu, i;
	struct ksplice_pause_profile *prof = &st->prof;
	int ret = 0;
	u64 t0;

	if (ksplice_profiling())
		memset(prof, 0, sizeof(*prof));
	st->nr_conflicts = 0;
	st->pause.checked = 0;
	t0 = ksplice_prof_now();
	st->pause.walk = ksplice_log_gap();
	if (ksplice_profiling())
		prof->gap = ktime_get_ns() - t0;
	if (!st->pause.walk) {
		t0 = ksplice_prof_now();
		for (i = 0; i < ksplice_round_scan.nr_again; i++)
			if (ksplice_check_one(st, ksplice_round_scan.again[i],
					      reverse))
				ret = -EBUSY;
		if (ksplice_profiling())
			prof->again = ktime_get_ns() - t0;
		t0 = ksplice_prof_now();
		for_each_possible_cpu(cpu) {
			struct ksplice_switch_log *l =
				ksplice_round_scan.logs[cpu];

			if (ksplice_profiling())
				prof->logged += l->n;
			for (i = 0; i < l->n; i++) {
				/* It ran before its prescan, not since. */
				if (ksplice_seen_unchanged(l->t[i]))
					continue;
				if (ksplice_check_one(st, l->t[i], reverse))
					ret = -EBUSY;
			}
		}
		if (ksplice_profiling())
			prof->log = ktime_get_ns() - t0;
	} else {
		t0 = ksplice_prof_now();
		rcu_read_lock();
		for_each_process_thread(g, t) {
			if (ksplice_seen_unchanged(t))
				continue;
			if (ksplice_check_one(st, t, reverse))
				ret = -EBUSY;
		}
		rcu_read_unlock();
		if (ksplice_profiling())
			prof->log = ktime_get_ns() - t0;
	}
	t0 = ksplice_prof_now();
	if (ksplice_kernel.idle_task) {
		for_each_online_cpu(cpu)
			if (ksplice_check_one(st, ksplice_kernel.idle_task(cpu),
					      reverse))
				ret = -EBUSY;
	}
	if (ksplice_profiling())
		prof->idle = ktime_get_ns() - t0;
	if (ret) {
		struct ksplice_conflict *c = &st->conflicts[0];

		if (c->unreliable)
			ksplice_set_reason(st, KSPLICE_BUSY,
					   "task %d (%s): cannot check its stack: %s",
					   c->pid, c->comm, c->part);
		else
			ksplice_set_reason(st, KSPLICE_BUSY,
					   "task %d (%s) is inside %s%s+0x%lx",
					   c->pid, c->comm, c->func, c->part,
					   c->offset);
	}
	return ret;
}

int ksplice_stack_init(void)
{
	unsigned long off;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ksplice_ret_tramps); i++) {
		unsigned long a = ksplice_lookup_name(ksplice_ret_tramps[i].name);

		if (a && ksplice_kernel.size_offset(a,
						    &ksplice_ret_tramps[i].size,
						    &off) && !off) {
			ksplice_ret_tramps[i].addr = a;
			ksplice_ret_tramp_lo = min(ksplice_ret_tramp_lo, a);
			ksplice_ret_tramp_hi = max(ksplice_ret_tramp_hi,
						   a + ksplice_ret_tramps[i].size);
			continue;
		}
		ksplice_ret_tramps[i].size = 0;
		if (ksplice_ret_tramps[i].built) {
			pr_info("no %s in kallsyms: every stack is walked\n",
				ksplice_ret_tramps[i].name);
			ksplice_prescreen = false;
		}
	}
	ksplice_stack = kcalloc(KSPLICE_STACK_ENTRIES, sizeof(*ksplice_stack),
				GFP_KERNEL);
	if (!ksplice_stack)
		return -ENOMEM;
	for_each_kernel_tracepoint(ksplice_find_sched_switch, NULL);
	if (!ksplice_sched_switch)
		pr_info("no sched_switch tracepoint: stop_machine checks every task\n");
	return 0;
}

void ksplice_stack_exit(void)
{
	kfree(ksplice_stack);
}
