// SPDX-License-Identifier: GPL-2.0
/*
 * ksplice_ftrace.c - how calls reach the replacement: an ftrace_ops that
 * owns each replaced function.
 *
 * Every replaced function gets an ftrace_ops with FTRACE_OPS_FL_IPMODIFY
 * filtered on its ftrace site, as livepatch does (kernel/livepatch/patch.c).
 * Its handler sets the instruction pointer to the replacement when the
 * function's switch (ksplice_fops.target) is set. This does three things:
 *
 * - It claims the function. ftrace lets only one IPMODIFY user own a
 *   function: when livepatch, kpatch or a BPF trampoline owns it, our
 *   registration fails with -EBUSY and the apply is refused (their handler
 *   would divert every call before ours, and the fix would never run);
 *   when we own it, their later registration fails the same way.
 * - ftrace, not ksplice, writes the call sites, with its own NMI-safe
 *   machinery (text_poke_bp() on x86; on arm64, stop_machine with every
 *   CPU synchronised), and before stop_machine: registration can sleep,
 *   allocate and fail, and is undone on every error path.
 * - Inside stop_machine only a word per function changes (WRITE_ONCE):
 *   an NMI running the function at that moment reads the old or the new
 *   target, never torn code. The function tracer keeps tracing the old
 *   function's entry, whose ftrace site is never overwritten.
 *
 * Several updates may replace one function (stacked updates): the ftrace_ops
 * is shared, counted by its users, and its target is always the newest
 * applied replacement.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/ftrace.h>
#include <linux/list.h>
#include <linux/slab.h>
#include <linux/trace_recursion.h>
#include "ksplice_internal.h"

/*
 * An ftrace site is at the function's entry: at +0, or after an endbr64
 * (x86 IBT) or a "bti c" and ftrace's "mov x9, x30" (arm64). A site
 * further in would run part of the old function before the replacement.
 */
#define KSPLICE_FTRACE_MAX_OFF	8

/*
 * The ftrace_ops of one replaced function, shared by every update that
 * replaces it. Found by @addr in ksplice_fops_list.
 */
struct ksplice_fops {
	struct ftrace_ops ops;
	struct list_head list;		/* in ksplice_fops_list */
	unsigned long addr;		/* the replaced function */
	unsigned int users;		/* updates holding it: applying or applied */
	/*
	 * Where calls of @addr go; 0 means into @addr. Written inside
	 * stop_machine (WRITE_ONCE), read by the handler (READ_ONCE), which
	 * runs with preemption disabled and so is not in progress on another
	 * CPU while the stopper runs, except in an NMI: one aligned word,
	 * read once, is the old target or the new one.
	 */
	unsigned long target;
};

/* Every ksplice_fops; protected by ksplice_mutex. */
static LIST_HEAD(ksplice_fops_list);

/*
 * Unexported: found in kallsyms at load time, typed after the kernel's
 * declaration so that a changed signature breaks the build.
 */
static typeof(&ftrace_location) ftrace_location_fn;

int __init ksplice_ftrace_init(void)
{
	ftrace_location_fn = (void *)ksplice_lookup_name("ftrace_location");
	if (!ftrace_location_fn) {
		pr_err("cannot find ftrace_location in kallsyms\n");
		return -ENOENT;
	}
	return 0;
}

/*
 * The ftrace_ops handler: runs at the old function's ftrace site, before
 * its body, in whatever context calls it (NMI included). notrace: it must
 * not trace itself.
 */
static void notrace ksplice_ftrace_handler(unsigned long ip,
					   unsigned long parent_ip,
					   struct ftrace_ops *op,
					   struct ftrace_regs *fregs)
{
	struct ksplice_fops *fo = container_of(op, struct ksplice_fops, ops);
	unsigned long target;
	int bit;

	/*
	 * Also disables preemption, so no CPU is between reading the target
	 * and setting the saved ip while the stopper runs. A task preempted
	 * later in ftrace's trampoline, on its way to the ip it was given,
	 * has that ip (the old function, or the previous replacement) as a
	 * return address on its stack, and the stack check finds it there.
	 */
	bit = ftrace_test_recursion_trylock(ip, parent_ip);
	if (WARN_ON_ONCE(bit < 0))
		return;
	/* Pairs with the WRITE_ONCE() of ksplice_ftrace_switch(). */
	target = READ_ONCE(fo->target);
	if (target) {
#ifdef CONFIG_HAVE_DYNAMIC_FTRACE_WITH_ARGS
		ftrace_instruction_pointer_set(fregs, target);
#else
		/* FTRACE_OPS_FL_SAVE_REGS: the trampoline returns to regs' pc. */
		instruction_pointer_set(ftrace_get_regs(fregs), target);
#endif
	}
	ftrace_test_recursion_unlock(bit);
}

static struct ksplice_fops *ksplice_fops_find(unsigned long addr)
{
	struct ksplice_fops *fo;

	list_for_each_entry(fo, &ksplice_fops_list, list)
		if (fo->addr == addr)
			return fo;
	return NULL;
}

/* Registers a new ftrace_ops on @fs's function; reason set on failure. */
static int ksplice_fops_create(struct ksplice_state *st,
			       struct ksplice_func_state *fs,
			       struct ksplice_fops **out)
{
	struct ksplice_fops *fo;
	unsigned long ip;
	int ret;

	ip = ftrace_location_fn(fs->addr);
	if (!ip || ip - fs->addr > KSPLICE_FTRACE_MAX_OFF) {
		ksplice_set_reason(st, KSPLICE_NO_FTRACE,
				   "function %s has no ftrace site at its entry (notrace or noinstr): it cannot be replaced",
				   fs->f->name);
		return -EOPNOTSUPP;
	}
	fo = kzalloc(sizeof(*fo), GFP_KERNEL);
	if (!fo) {
		ksplice_set_reason(st, KSPLICE_NOMEM, "out of memory");
		return -ENOMEM;
	}
	fo->addr = fs->addr;
	fo->ops.func = ksplice_ftrace_handler;
	/*
	 * PERMANENT: while we own a function, "sysctl kernel.ftrace_enabled=0"
	 * is refused instead of silently sending calls back to the old code.
	 */
	fo->ops.flags = FTRACE_OPS_FL_IPMODIFY | FTRACE_OPS_FL_PERMANENT |
#ifndef CONFIG_HAVE_DYNAMIC_FTRACE_WITH_ARGS
			FTRACE_OPS_FL_SAVE_REGS |
#endif
			FTRACE_OPS_FL_DYNAMIC;
	ret = ftrace_set_filter_ip(&fo->ops, ip, 0, 0);
	if (ret) {
		ksplice_set_reason(st, KSPLICE_FTRACE,
				   "function %s: ftrace_set_filter_ip() returned %d",
				   fs->f->name, ret);
		goto free_filter;
	}
	ret = register_ftrace_function(&fo->ops);
	if (ret == -EBUSY) {
		ksplice_set_reason(st, KSPLICE_FTRACE_OWNED,
				   "function %s is already modified through ftrace by another live patch or a BPF trampoline",
				   fs->f->name);
		goto free_filter;
	}
	if (ret) {
		ksplice_set_reason(st, KSPLICE_FTRACE,
				   "function %s: register_ftrace_function() returned %d",
				   fs->f->name, ret);
		goto free_filter;
	}
	list_add(&fo->list, &ksplice_fops_list);
	*out = fo;
	return 0;

free_filter:
	/* The filter hash ftrace_set_filter_ip() allocated, if any. */
	ftrace_free_filter(&fo->ops);
	kfree(fo);
	return ret;
}

/* Drops one user of @fo; the last one unregisters it and frees it. */
static void ksplice_fops_put(struct ksplice_fops *fo)
{
	if (--fo->users)
		return;
	/*
	 * Only a switched-off ftrace_ops is released. After
	 * unregister_ftrace_function() no CPU runs the handler any more (it
	 * waits for that: the ops is FTRACE_OPS_FL_DYNAMIC), so @fo can go.
	 */
	WARN_ON(fo->target);
	WARN_ON(unregister_ftrace_function(&fo->ops));
	ftrace_free_filter(&fo->ops);
	list_del(&fo->list);
	kfree(fo);
}

/**
 * ksplice_ftrace_claim - own every function of @st through ftrace
 * @st:	the update being applied; ksplice_mutex held
 *
 * Before stop_machine: registers (or, for a function an applied update
 * already replaced, shares) the ftrace_ops of each function, switched off.
 * All or none: on failure every claim made is released, and the reason
 * (no_ftrace_site, ftrace_owned, ftrace_error, nomem) is set.
 */
int ksplice_ftrace_claim(struct ksplice_state *st)
{
	struct ksplice_fops *fo;
	unsigned int i;
	int ret;

	for (i = 0; i < st->u->nr_funcs; i++) {
		/* Diverted by a direct jump instead (ksplice_text.c). */
		if (st->funcs[i].js)
			continue;
		fo = ksplice_fops_find(st->funcs[i].addr);
		if (!fo) {
			ret = ksplice_fops_create(st, &st->funcs[i], &fo);
			if (ret)
				goto release;
		}
		fo->users++;
	}
	return 0;

release:
	while (i--)
		if (!st->funcs[i].js)
			ksplice_fops_put(ksplice_fops_find(st->funcs[i].addr));
	return ret;
}

/**
 * ksplice_ftrace_release - undo ksplice_ftrace_claim()
 * @st:	the update, switched off (reversed, or its apply failed);
 *	ksplice_mutex held
 *
 * Outside stop_machine: unregistering waits for handlers in flight.
 */
void ksplice_ftrace_release(struct ksplice_state *st)
{
	struct ksplice_fops *fo;
	unsigned int i;

	for (i = 0; i < st->u->nr_funcs; i++) {
		if (st->funcs[i].js)
			continue;
		fo = ksplice_fops_find(st->funcs[i].addr);
		if (!WARN_ON(!fo))
			ksplice_fops_put(fo);
	}
}

/*
 * Where calls of @addr go once @st is switched off: to the newest other
 * applied update's replacement of it, or into @addr itself.
 */
static unsigned long ksplice_prev_target(struct ksplice_state *st,
					 unsigned long addr)
{
	struct ksplice_state *o;
	unsigned int i;

	list_for_each_entry(o, &ksplice_applied, applied) {
		if (o == st)
			continue;
		for (i = 0; i < o->u->nr_funcs; i++)
			if (o->funcs[i].addr == addr)
				return (unsigned long)o->funcs[i].f->new_func;
	}
	return 0;
}

/**
 * ksplice_ftrace_plan - before stop_machine: the word each function's
 *	switch gets when @st is switched @on or off
 * @st:	the update, claimed; when switching off, one that no later update
 *	depends on (ksplice_dependent())
 * @on:	apply or reverse
 *
 * Called with ksplice_mutex held, which keeps the applied list and every
 * ksplice_fops as they are until the round is over: the stop_machine
 * callback then only stores the words (ksplice_ftrace_switch()), without
 * a lookup in a list per function, or in every applied update's
 * functions per function when reversing.
 */
void ksplice_ftrace_plan(struct ksplice_state *st, bool on)
{
	struct ksplice_fops *fo;
	unsigned int i;

	for (i = 0; i < st->u->nr_funcs; i++) {
		struct ksplice_func_state *fs = &st->funcs[i];

		fs->switch_word = NULL;
		if (fs->js)
			continue;
		fo = ksplice_fops_find(fs->addr);
		if (WARN_ON(!fo))
			continue;
		fs->switch_word = &fo->target;
		fs->switch_to = on ? (unsigned long)fs->f->new_func :
			ksplice_prev_target(st, fs->addr);
	}
}

/**
 * ksplice_ftrace_switch - send the calls of @st's functions to @st's
 *	replacements, or back to what ran before, as ksplice_ftrace_plan()
 *	planned
 * @st:	the update, planned in this round
 *
 * The stop_machine callback's only write: every other CPU spins in the
 * stopper with interrupts off, and leaves it through the stopper's own
 * synchronisation (an atomic_dec_and_test() in ack_state(), a full
 * barrier), which orders these stores before anything it runs next.
 * Cannot fail.
 */
void ksplice_ftrace_switch(struct ksplice_state *st)
{
	unsigned int i;

	for (i = 0; i < st->u->nr_funcs; i++) {
		struct ksplice_func_state *fs = &st->funcs[i];

		/* Pairs with the READ_ONCE() of ksplice_ftrace_handler(). */
		if (fs->switch_word)
			WRITE_ONCE(*fs->switch_word, fs->switch_to);
	}
}
