// SPDX-License-Identifier: GPL-2.0
/*
 * ksplice_core.c - the ksplice engine: registration, apply and reverse.
 *
 * An update module registers its tables (ksplice.h); writing "apply" to
 * /sys/kernel/ksplice/<id>/stage then matches the old code against the
 * running kernel (ksplice_match.c), resolves the new code's relocations,
 * claims each function with an ftrace_ops (ksplice_ftrace.c), and in one
 * stop_machine checks that no task is inside a function being replaced
 * and switches each ftrace_ops to send calls to the replacement.
 * "reverse" undoes it, newest update first.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/cpu.h>
#include <linux/ctype.h>
#include <linux/delay.h>
#include <linux/kallsyms.h>
#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "ksplice_internal.h"

/* Layout of the tables, as docs/update-format.md specifies it. */
static_assert(sizeof(struct ksplice_reloc) == 24);
static_assert(sizeof(struct ksplice_site) == 16);
static_assert(sizeof(struct ksplice_func) == 56);
static_assert(sizeof(struct ksplice_new_reloc) == 40);
static_assert(sizeof(struct ksplice_key) == 40);
static_assert(sizeof(struct ksplice_update) == 128);

#define KSPLICE_TRIES		5	/* stop_machine rounds before "busy" */
#define KSPLICE_RETRY_MS	20	/* first sleep between them, doubled */
#define KSPLICE_RETRY_MAX_MS	1000	/* longest sleep of a forced reverse */

struct ksplice_kernel ksplice_kernel;
DEFINE_MUTEX(ksplice_mutex);

/* Registered updates, oldest first; protected by ksplice_mutex. */
static LIST_HEAD(ksplice_updates);
/* Applied updates, newest first; protected by ksplice_mutex. */
LIST_HEAD(ksplice_applied);

static const struct {
	const char *name;
	int err;
} ksplice_reasons[KSPLICE_NR_REASONS] = {
	[KSPLICE_OK]		  = { "none", 0 },
	[KSPLICE_BAD_FORMAT]	  = { "bad_format", -EINVAL },
	[KSPLICE_TARGET_MISSING]  = { "target_not_loaded", -ENOENT },
	[KSPLICE_NO_CANDIDATE]	  = { "no_candidate", -ENOENT },
	[KSPLICE_CODE_MISMATCH]	  = { "code_mismatch", -ENOEXEC },
	[KSPLICE_AMBIGUOUS]	  = { "ambiguous", -ENOTUNIQ },
	[KSPLICE_SYMBOL_CONFLICT] = { "symbol_conflict", -ENOEXEC },
	[KSPLICE_UNRESOLVED]	  = { "unresolved_symbol", -ENOENT },
	[KSPLICE_BAD_RELOC]	  = { "bad_relocation", -EINVAL },
	[KSPLICE_TOO_SHORT]	  = { "too_short", -EINVAL },
	[KSPLICE_BUSY]		  = { "busy", -EBUSY },
	[KSPLICE_NOT_LAST]	  = { "not_last", -EBUSY },
	[KSPLICE_CODE_CHANGED]	  = { "code_changed", -EIO },
	[KSPLICE_BAD_STAGE]	  = { "bad_stage", -EINVAL },
	[KSPLICE_NOMEM]		  = { "nomem", -ENOMEM },
	[KSPLICE_HOOK]		  = { "hook", -ECANCELED },
	[KSPLICE_SITE_CONFLICT]	  = { "site_conflict", -EOPNOTSUPP },
	[KSPLICE_NO_FTRACE]	  = { "no_ftrace_site", -EOPNOTSUPP },
	[KSPLICE_FTRACE_OWNED]	  = { "ftrace_owned", -EBUSY },
	[KSPLICE_FTRACE]	  = { "ftrace_error", -EIO },
	[KSPLICE_NMI_MASK]	  = { "nmi_mask", -EIO },
};

const char *ksplice_reason_name(enum ksplice_reason reason)
{
	return ksplice_reasons[reason].name;
}

const char *ksplice_stage_name(enum ksplice_stage stage)
{
	switch (stage) {
	case KSPLICE_STAGE_LOADED:
		return "loaded";
	case KSPLICE_STAGE_APPLIED:
		return "applied";
	case KSPLICE_STAGE_REVERSED:
		return "reversed";
	}
	return "unknown";
}

/* Record why the current operation fails; may run inside stop_machine. */
void ksplice_set_reason(struct ksplice_state *st, enum ksplice_reason reason,
			const char *fmt, ...)
{
	va_list args;

	st->reason = reason;
	va_start(args, fmt);
	vsnprintf(st->message, sizeof(st->message), fmt, args);
	va_end(args);
}

static int ksplice_fail(struct ksplice_state *st)
{
	pr_warn("%s: %s: %s\n", st->u->id, ksplice_reason_name(st->reason),
		st->message);
	return ksplice_reasons[st->reason].err;
}

unsigned long ksplice_lookup_name(const char *name)
{
	return ksplice_kernel.lookup_name(name);
}

/*
 * kallsyms_lookup_name() is not exported since 5.7, but a kprobe on it
 * tells where it is.
 */
static int __init ksplice_find_lookup_name(void)
{
	struct kprobe kp = { .symbol_name = "kallsyms_lookup_name" };
	int ret;

	ret = register_kprobe(&kp);
	if (ret) {
		pr_err("cannot find kallsyms_lookup_name: kprobe: %d\n", ret);
		return ret;
	}
	ksplice_kernel.lookup_name = (void *)kp.addr;
	unregister_kprobe(&kp);
	return 0;
}

static int __init ksplice_find_helpers(void)
{
	const struct {
		const char *name;
		void **slot;
		bool optional;
	} syms[] = {
		{ "kallsyms_on_each_match_symbol",
		  (void **)&ksplice_kernel.on_each_match_symbol },
		{ "module_kallsyms_on_each_symbol",
		  (void **)&ksplice_kernel.module_on_each_symbol },
		{ "find_module", (void **)&ksplice_kernel.find_module },
		{ "stop_machine_cpuslocked",
		  (void **)&ksplice_kernel.stop_machine_cpuslocked },
		{ "stack_trace_save_tsk_reliable",
		  (void **)&ksplice_kernel.save_stack_reliable, true },
		{ "kallsyms_lookup_size_offset",
		  (void **)&ksplice_kernel.size_offset },
		{ "idle_task", (void **)&ksplice_kernel.idle_task, true },
		{ "task_call_func", (void **)&ksplice_kernel.task_call_func,
		  true },
		{ "jump_label_lock", (void **)&ksplice_kernel.jump_label_lock,
		  !IS_ENABLED(CONFIG_JUMP_LABEL) },
		{ "jump_label_unlock",
		  (void **)&ksplice_kernel.jump_label_unlock,
		  !IS_ENABLED(CONFIG_JUMP_LABEL) },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(syms); i++) {
		*syms[i].slot = (void *)ksplice_lookup_name(syms[i].name);
		if (!*syms[i].slot && !syms[i].optional) {
			pr_err("cannot find %s in kallsyms\n", syms[i].name);
			return -ENOENT;
		}
	}
	if (!ksplice_kernel.save_stack_reliable)
		pr_info("no reliable stack unwinder: every word of each task's stack is checked\n");
	return 0;
}

/* The newest applied replacement of the function at @addr, if any. */
struct ksplice_func_state *ksplice_top_at(unsigned long addr)
{
	struct ksplice_state *st;
	unsigned int i;

	list_for_each_entry(st, &ksplice_applied, applied)
		for (i = 0; i < st->u->nr_funcs; i++)
			if (st->funcs[i].addr == addr)
				return &st->funcs[i];
	return NULL;
}

static bool ksplice_valid_id(const char *id)
{
	size_t i, len = strnlen(id, KSPLICE_ID_MAX);

	if (!len || len == KSPLICE_ID_MAX || id[0] == '.')
		return false;
	/*
	 * The id names a directory beside the engine's own file: a clash would
	 * fail kobject_add() with a stack dump (sysfs_warn_dup()).
	 */
	if (!strcmp(id, KSPLICE_BENCH_FILE) || !strcmp(id, KSPLICE_GROUP_FILE))
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum(id[i]) && !strchr("_.-", id[i]))
			return false;
	return true;
}

static int ksplice_check_func(const struct ksplice_update *u,
			      const struct ksplice_func *f, bool helper)
{
	u32 i, end = 0, windows = 0;

	if (!f->name || !f->old_code || !f->old_size ||
	    ((u->flags & KSPLICE_UPDATE_OBJECTS) &&
	     !*ksplice_func_object(u, f)) ||
	    (f->nr_old_relocs && !f->old_relocs) ||
	    (f->nr_sites && !f->sites))
		return -EINVAL;
	/* A helper is only matched: it has no new code. */
	if (helper ? f->new_func || f->new_size :
		     !f->new_func || !f->new_size ||
		     !within_module((unsigned long)f->new_func, u->mod))
		return -EINVAL;
	for (i = 0; i < f->nr_old_relocs; i++) {
		const struct ksplice_reloc *r = &f->old_relocs[i];

		if (!r->symbol || r->offset >= f->old_size ||
		    (i && r->offset <= f->old_relocs[i - 1].offset))
			return -EINVAL;
	}
	for (i = 0; i < f->nr_sites; i++) {
		const struct ksplice_site *s = &f->sites[i];

		if (s->offset < end || s->offset + s->len > f->old_size)
			return -EINVAL;
		end = s->offset + s->len;
		/*
		 * A jump window: format 5, a replaced function, once, no
		 * longer than a jump, landing in the replacement, of a
		 * shape the architecture writes (the text code counts on
		 * it: an arm64 window is whole words).
		 */
		if (s->kind == KSPLICE_SITE_ENTRY_JUMP &&
		    (u->format_version < 5 || helper || windows++ ||
		     !s->len || s->len > KSPLICE_JUMP_MAX ||
		     s->target < 0 || s->target >= f->new_size ||
		     ksplice_arch_check_window(s)))
			return -EINVAL;
	}
	return 0;
}

static int ksplice_check_update(const struct ksplice_update *u)
{
	bool has_hooks;
	u32 i;

	if (u->format_version < KSPLICE_FORMAT_VERSION_MIN ||
	    u->format_version > KSPLICE_FORMAT_VERSION) {
		pr_err("update format version %u, this engine knows %u to %u\n",
		       u->format_version, KSPLICE_FORMAT_VERSION_MIN,
		       KSPLICE_FORMAT_VERSION);
		return -EINVAL;
	}
	has_hooks = u->pre_apply || u->post_apply || u->pre_reverse ||
		    u->post_reverse;
	if (!u->id || !ksplice_valid_id(u->id) || !u->target || !u->mod ||
	    (!u->nr_funcs && !has_hooks) || (u->nr_funcs && !u->funcs) ||
	    (u->nr_new_relocs && !u->new_relocs) ||
	    (u->nr_helpers && !u->helpers) || u->reserved ||
	    (u->flags & ~KSPLICE_UPDATE_FLAGS)) {
		pr_err("update %s: malformed header\n", u->id ?: "(no id)");
		return -EINVAL;
	}
	for (i = 0; i < ksplice_nr_matched(u); i++) {
		const struct ksplice_func *f = ksplice_func_at(u, i);

		if (ksplice_check_func(u, f, i >= u->nr_funcs)) {
			pr_err("update %s: malformed %s %u (%s)\n", u->id,
			       i < u->nr_funcs ? "function" : "helper", i,
			       f->name ?: "no name");
			return -EINVAL;
		}
	}
	for (i = 0; i < u->nr_new_relocs; i++) {
		const struct ksplice_new_reloc *r = &u->new_relocs[i];

		if (!r->symbol ||
		    (r->old_func && ksplice_func_index(u, r->old_func) < 0) ||
		    !within_module((unsigned long)r->place, u->mod)) {
			pr_err("update %s: malformed new code relocation %u\n",
			       u->id, i);
			return -EINVAL;
		}
	}
	return ksplice_jump_check(u);
}

static struct ksplice_state *ksplice_find(const struct ksplice_update *u)
{
	struct ksplice_state *st;

	list_for_each_entry(st, &ksplice_updates, list)
		if (st->u == u)
			return st;
	return NULL;
}

void ksplice_state_release(struct ksplice_state *st)
{
	unsigned int i;

	if (st->funcs) {
		for (i = 0; i < ksplice_nr_matched(st->u); i++) {
			kfree(st->funcs[i].values);
			bitmap_free(st->funcs[i].known);
		}
	}
	kfree(st->funcs);
	kfree(st);
}

static struct ksplice_state *ksplice_state_alloc(const struct ksplice_update *u)
{
	struct ksplice_state *st;
	unsigned int i;

	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return NULL;
	st->u = u;
	INIT_LIST_HEAD(&st->list);
	INIT_LIST_HEAD(&st->applied);
	st->funcs = kcalloc(ksplice_nr_matched(u), sizeof(*st->funcs),
			    GFP_KERNEL);
	if (!st->funcs)
		goto free;
	for (i = 0; i < ksplice_nr_matched(u); i++) {
		u32 n = max(ksplice_func_at(u, i)->nr_old_relocs, 1U);

		st->funcs[i].f = ksplice_func_at(u, i);
		st->funcs[i].values = kcalloc(n, sizeof(unsigned long),
					      GFP_KERNEL);
		st->funcs[i].known = bitmap_zalloc(n, GFP_KERNEL);
		if (!st->funcs[i].values || !st->funcs[i].known)
			goto free;
	}
	return st;
free:
	ksplice_state_release(st);
	return NULL;
}

int ksplice_register_update(const struct ksplice_update *u)
{
	struct ksplice_state *st, *other;
	int ret;

	ret = ksplice_check_update(u);
	if (ret)
		return ret;
	st = ksplice_state_alloc(u);
	if (!st)
		return -ENOMEM;

	mutex_lock(&ksplice_mutex);
	list_for_each_entry(other, &ksplice_updates, list) {
		if (!strcmp(other->u->id, u->id)) {
			mutex_unlock(&ksplice_mutex);
			pr_err("update %s: id already registered\n", u->id);
			ksplice_state_release(st);
			return -EEXIST;
		}
	}
	list_add_tail(&st->list, &ksplice_updates);
	mutex_unlock(&ksplice_mutex);

	ret = ksplice_sysfs_add(st);
	if (ret)
		goto unlist;
	pr_info("%s: registered: %u functions in %s\n", u->id, u->nr_funcs,
		u->target);
	return 0;

unlist:
	mutex_lock(&ksplice_mutex);
	list_del(&st->list);
	mutex_unlock(&ksplice_mutex);
	/*
	 * The kobject owns @st since kobject_init(): its release frees it, so
	 * it is put only once no list points to it any more.
	 */
	kobject_put(&st->kobj);
	return ret;
}
EXPORT_SYMBOL_GPL(ksplice_register_update);

/*
 * One stop_machine round for a group of updates (all the targets of one
 * update, or a single one): every stack is checked against every member's
 * code first, and only if no task is in the way are all members switched,
 * so that they change together or not at all.
 */
struct ksplice_round {
	struct ksplice_state **sts;
	unsigned int n;
	bool reverse;
	bool forced;		/* a forced reverse: retry for as long as it takes */
	struct ksplice_state *busy;	/* the member a task was found in */
	bool jumps;		/* a member has direct jumps (ksplice_text.c) */
	/* Its direct jumps (ksplice_text.c): sts, n, reverse again. */
	struct ksplice_text_round text;
};

/*
 * The stop_machine callback. Runs on one CPU while all others spin with
 * interrupts off (in ksplice_text_follow() when the round writes direct
 * jumps); it checks stacks, flips the switch of each function's
 * ftrace_ops, registered before, and writes the direct jumps of functions
 * without an ftrace site (ksplice_text.c): nothing here allocates or
 * sleeps.
 */
static int ksplice_round_stopped(void *data)
{
	struct ksplice_round *r = data;
	struct ksplice_pause_profile *prof = &r->sts[0]->prof;
	u64 t0 = ktime_get_ns(), ns, t;
	unsigned int i;
	int ret = 0;

	r->busy = NULL;
	for (i = 0; i < r->n; i++) {
		if (r->forced)
			r->sts[i]->reason = KSPLICE_OK;
		if (ksplice_check_stacks(r->sts[i], r->reverse)) {
			r->busy = r->sts[i];
			ret = -EBUSY;
			break;
		}
	}
	/* No write before every window is known to be as expected. */
	t = ksplice_prof_now();
	if (!ret && r->jumps)
		ret = ksplice_text_check(&r->text, &r->busy);
	if (!ret && r->jumps)
		ret = ksplice_text_shut(&r->text, &r->busy);
	if (ksplice_profiling())
		prof->text_check = ktime_get_ns() - t;
	if (!ret) {
		t = ksplice_prof_now();
		for (i = 0; i < r->n; i++)
			ksplice_ftrace_switch(r->sts[i]);
		if (ksplice_profiling())
			prof->sw = ktime_get_ns() - t;
		t = ksplice_prof_now();
		if (r->jumps)
			ksplice_text_write(&r->text);
		if (ksplice_profiling())
			prof->write = ktime_get_ns() - t;
	}
	ns = ktime_get_ns() - t0;
	for (i = 0; i < r->n; i++)
		r->sts[i]->stop_ns = ns;
	return ret;
}

/*
 * The stop_machine callback of a round that writes direct jumps, on every
 * CPU: the first one in does the round, the others serialise after each
 * step of its writes (ksplice_text.c) until it is done.
 */
static int ksplice_round_all_cpus(void *data)
{
	struct ksplice_round *r = data;
	int ret;

	if (atomic_inc_return(&r->text.entered) != 1) {
		ksplice_text_follow(&r->text);
		return 0;
	}
	ret = ksplice_round_stopped(r);
	WRITE_ONCE(r->text.done, true);
	return ret;
}

/*
 * Run the round in stop_machine, retrying with growing sleeps while a task
 * is in the way: KSPLICE_TRIES rounds, or, for a forced reverse, for as
 * long as it takes, since the code it takes out of use is about to be
 * freed and the caller cannot fail. The hotplug lock, then text_mutex,
 * are taken as the kernel's own text patchers take them (kprobes, jump
 * labels). Each member's attempts and stop_total_ns are the round's.
 */
static int ksplice_stop(struct ksplice_round *r)
{
	unsigned int delay = KSPLICE_RETRY_MS, attempts, i;
	u64 t0, total;
	int ret;

	r->text.sts = r->sts;
	r->text.n = r->n;
	r->text.reverse = r->reverse;
	r->jumps = false;
	/*
	 * Everything the callback needs that does not change while
	 * ksplice_mutex is held is worked out here, once: the pause only
	 * checks stacks and stores what was planned.
	 */
	for (i = 0; i < r->n; i++) {
		r->jumps |= ksplice_text_used(r->sts[i]);
		ksplice_scan_bounds(r->sts[i], r->reverse);
		ksplice_ftrace_plan(r->sts[i], !r->reverse);
	}
	for (attempts = 1; ; attempts++) {
		/*
		 * The windows' aliases (arm64) are mapped here, where
		 * allocating may sleep. A forced reverse waits for memory
		 * as it waits for tasks.
		 */
		if (r->jumps) {
			ret = ksplice_text_prepare(&r->text);
			if (ret && !r->forced)
				break;
			if (ret) {
				msleep(delay);
				continue;
			}
			/*
			 * A forced reverse whose rounds a CPU's mask of
			 * NMI-like events kept failing goes on without it
			 * (ksplice_text_shut()): never writing back would
			 * leave calls going into code that is being freed.
			 */
			r->text.nmi_mask_optional = r->forced &&
						    attempts > KSPLICE_TRIES;
		}
		ksplice_prescan(r->sts, r->n, r->reverse, attempts);
		cpus_read_lock();
		ksplice_arch_lock_text();
		t0 = ktime_get_ns();
		if (r->jumps)
			ret = ksplice_kernel.stop_machine_cpuslocked(ksplice_round_all_cpus,
								     r, cpu_online_mask);
		else
			ret = ksplice_kernel.stop_machine_cpuslocked(ksplice_round_stopped,
								     r, NULL);
		total = ktime_get_ns() - t0;
		ksplice_arch_unlock_text();
		cpus_read_unlock();
		if (r->jumps) {
			ksplice_text_finish(&r->text);
			ksplice_text_after(&r->text);
			ksplice_text_test_report(&r->text);
		}
		for (i = 0; i < r->n; i++) {
			r->sts[i]->attempts = attempts;
			r->sts[i]->stop_total_ns = total;
		}
		ksplice_prescan_end(r->sts, r->n, attempts, ret);
		/*
		 * A CPU that could not mask NMI-like events
		 * (ksplice_text_shut(), -EAGAIN) is tried again as a busy
		 * task is.
		 */
		if ((ret != -EBUSY && ret != -EAGAIN) ||
		    (!r->forced && attempts == KSPLICE_TRIES))
			break;
		if (r->forced && attempts % KSPLICE_TRIES == 0 && r->busy)
			pr_warn("%s: waiting to reverse: %s\n", r->busy->u->id,
				r->busy->message);
		msleep(delay);
		delay = min(delay * 2, KSPLICE_RETRY_MAX_MS);
	}
	ksplice_arch_sync();
	return ret;
}

/* Takes a reference on the target module; find_module() is not exported. */
static int ksplice_get_target(struct ksplice_state *st)
{
	struct module *mod;

	st->target = NULL;
	if (!strcmp(st->u->target, "vmlinux"))
		return 0;
	/* find_module() wants an RCU-sched read side: the module stays. */
	preempt_disable();
	mod = ksplice_kernel.find_module(st->u->target);
	if (mod && !try_module_get(mod))
		mod = NULL;
	preempt_enable();
	if (!mod) {
		ksplice_set_reason(st, KSPLICE_TARGET_MISSING,
				   "target module %s is not loaded",
				   st->u->target);
		return -ENOENT;
	}
	st->target = mod;
	return 0;
}

static bool ksplice_is_cold(const char *sym, const char *name)
{
	size_t len = strlen(name);
	const char *sec = ".text.unlikely.";

	if (str_has_prefix(sym, sec) && !strcmp(sym + strlen(sec), name))
		return true;
	return !strncmp(sym, name, len) && str_has_prefix(sym + len, ".cold");
}

/*
 * The .cold part of each old function: code gcc moved out of line, which
 * jumps back into the function, so a task returning into it (from a call
 * it makes, e.g. to printk) goes on running the old function. The tables
 * do not list it (it is not entered by a call: no call is redirected there),
 * but the old code's jump to it is a relocation against its section
 * ".text.unlikely.NAME" or its symbol "NAME.cold", whose address run-pre
 * deduced; kallsyms gives its extent.
 */
static void ksplice_find_cold(struct ksplice_state *st)
{
	unsigned long size, off;
	unsigned int i, j;

	for (i = 0; i < st->u->nr_funcs; i++) {
		struct ksplice_func_state *fs = &st->funcs[i];
		const struct ksplice_func *f = fs->f;

		fs->cold = 0;
		fs->cold_size = 0;
		for (j = 0; j < f->nr_old_relocs; j++) {
			if (!test_bit(j, fs->known) ||
			    !ksplice_is_cold(f->old_relocs[j].symbol, f->name) ||
			    !ksplice_kernel.size_offset(fs->values[j], &size,
							&off))
				continue;
			fs->cold = fs->values[j] - off;
			fs->cold_size = size;
			break;
		}
	}
}

/*
 * Everything of an apply that can fail, before stop_machine: run-pre
 * matching, the new code's relocations, the ftrace claims, the pre_apply
 * hook. On failure nothing of it is left and the reason is set.
 */
static int ksplice_prepare(struct ksplice_state *st)
{
	const struct ksplice_update *u = st->u;
	int ret;

	if (st->stage == KSPLICE_STAGE_APPLIED) {
		ksplice_set_reason(st, KSPLICE_BAD_STAGE, "already applied");
		return -EINVAL;
	}
	/* Pins the replacement code while calls are sent to it. */
	if (!try_module_get(u->mod)) {
		ksplice_set_reason(st, KSPLICE_BAD_STAGE,
				   "module %s is being removed", u->mod->name);
		return -EINVAL;
	}
	ret = ksplice_get_target(st);
	if (ret)
		goto put_mod;
	ret = ksplice_run_pre(st);
	if (ret)
		goto put_target;
	ksplice_find_cold(st);
	ret = ksplice_resolve_new_relocs(st);
	if (ret)
		goto put_target;
	ret = ksplice_jump_bind(st);
	if (ret)
		goto put_target;
	/*
	 * How calls reach each replacement: a direct jump where the tables
	 * give a window (no ftrace site), ftrace elsewhere. Both can sleep,
	 * allocate and fail: before stop_machine.
	 */
	ret = ksplice_text_claim(st);
	if (ret)
		goto put_target;
	ret = ksplice_ftrace_claim(st);
	if (ret) {
		ksplice_text_release(st);
		goto put_target;
	}
	if (u->pre_apply) {
		ret = u->pre_apply();
		if (ret) {
			ksplice_set_reason(st, KSPLICE_HOOK,
					   "pre_apply hook returned %d", ret);
			goto release;
		}
	}
	return 0;

release:
	ksplice_ftrace_release(st);
	ksplice_text_release(st);
put_target:
	if (st->target)
		module_put(st->target);
	st->target = NULL;
put_mod:
	module_put(u->mod);
	return ret;
}

/* Undo a successful ksplice_prepare() of an update left unapplied. */
static void ksplice_unprepare(struct ksplice_state *st)
{
	ksplice_ftrace_release(st);
	ksplice_text_release(st);
	if (st->target)
		module_put(st->target);
	st->target = NULL;
	module_put(st->u->mod);
}

/* After the stop_machine that switched @st on. */
static void ksplice_applied_done(struct ksplice_state *st)
{
	const struct ksplice_update *u = st->u;

	list_add(&st->applied, &ksplice_applied);
	st->stage = KSPLICE_STAGE_APPLIED;
	/*
	 * The running code is no longer what the kernel was built from: say
	 * so in every oops from now on, as livepatch does.
	 */
	add_taint(TAINT_LIVEPATCH, LOCKDEP_STILL_OK);
	if (u->post_apply)
		u->post_apply();
	pr_notice("%s: applied: %u functions in %s, stop_machine %llu ns (callback %llu ns), %u attempts\n",
		  u->id, u->nr_funcs, u->target, st->stop_total_ns, st->stop_ns,
		  st->attempts);
}

static void ksplice_clear_reason(struct ksplice_state *st)
{
	st->reason = KSPLICE_OK;
	st->message[0] = '\0';
	st->nr_conflicts = 0;
}

/**
 * ksplice_apply_group - apply updates together, in one stop_machine
 * @sts:	the updates (e.g. the targets of one update: vmlinux and modules)
 * @n:		how many
 *
 * Every member is prepared first (ksplice_prepare()); then one stop_machine
 * checks every stack against every member's code and switches them all, or
 * none. If any step fails for any member, every member is left as it was:
 * nothing was switched, and what was prepared is released. The member
 * that failed has the reason in its abort_cause and abort_message; the
 * others keep "none". ksplice_mutex held.
 *
 * Return: 0, or the errno of the failed member's reason.
 */
int ksplice_apply_group(struct ksplice_state **sts, unsigned int n)
{
	struct ksplice_round r = { .sts = sts, .n = n };
	struct ksplice_state *failed;
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++)
		ksplice_clear_reason(sts[i]);
	for (i = 0; i < n; i++) {
		ret = ksplice_prepare(sts[i]);
		if (ret) {
			failed = sts[i];
			goto unprepare;
		}
	}
	ret = ksplice_stop(&r);
	if (ret) {
		failed = r.busy ?: sts[0];
		if (failed->reason == KSPLICE_OK)
			ksplice_set_reason(failed, KSPLICE_BUSY,
					   "stop_machine returned %d", ret);
		goto unprepare;
	}
	for (i = 0; i < n; i++)
		ksplice_applied_done(sts[i]);
	if (n > 1)
		pr_notice("%s: applied with %u other updates in one stop_machine\n",
			  sts[0]->u->id, n - 1);
	return 0;

unprepare:
	while (i--)
		ksplice_unprepare(sts[i]);
	return ksplice_fail(failed);
}

/* Apply @st; ksplice_mutex held. Returns 0 or the reason's errno. */
int ksplice_apply(struct ksplice_state *st)
{
	return ksplice_apply_group(&st, 1);
}

/* After the stop_machine that switched @st off. */
static void ksplice_reversed_done(struct ksplice_state *st)
{
	bool keep;

	list_del_init(&st->applied);
	st->stage = KSPLICE_STAGE_REVERSED;
	/* Switched off: unregistering waits for handlers still running. */
	ksplice_ftrace_release(st);
	ksplice_text_release(st);
	/*
	 * No task is in the update's code, but a work item, timer or RCU
	 * callback it queued, or a structure it linked somewhere, may still
	 * point into it: the generator marked the update, and the references
	 * taken at apply, on the update module and on its target (whose
	 * statics the new code uses), stay, once, for as long as the kernel
	 * runs. Not when code is being removed by force: nothing stops that.
	 */
	keep = (st->u->flags & KSPLICE_UPDATE_KEEP_MODULE) && !st->kept &&
	       !st->forced;
	if (st->target && !keep)
		module_put(st->target);
	st->target = NULL;
	if (st->u->post_reverse)
		st->u->post_reverse();
	/* No task can be in the update's code now: free its shadow data. */
	ksplice_shadow_release(st->u->mod, st->u->id);
	if (keep) {
		st->kept = true;
		pr_notice("%s: reversed, module %s kept loaded: the new code may have published addresses into it\n",
			  st->u->id, st->u->mod->name);
	} else {
		module_put(st->u->mod);
	}
	pr_notice("%s: reversed: stop_machine %llu ns (callback %llu ns), %u attempts\n",
		  st->u->id, st->stop_total_ns, st->stop_ns, st->attempts);
}

/*
 * Reverse @sts, which no later update depends on (ksplice_dependent()), in
 * one stop_machine; ksplice_mutex held. A forced reverse (one member,
 * st->forced) is not refused: the pre_reverse hook's veto is logged and
 * overridden and busy tasks are waited for.
 */
static int ksplice_reverse_round(struct ksplice_state **sts, unsigned int n)
{
	struct ksplice_round r = { .sts = sts, .n = n, .reverse = true,
				   .forced = n == 1 && sts[0]->forced };
	unsigned int i;
	int ret;

	for (i = 0; i < n; i++) {
		struct ksplice_state *st = sts[i];

		if (!st->u->pre_reverse)
			continue;
		ret = st->u->pre_reverse();
		if (ret && !r.forced) {
			ksplice_set_reason(st, KSPLICE_HOOK,
					   "pre_reverse hook returned %d", ret);
			return ksplice_fail(st);
		}
		if (ret)
			pr_warn("%s: pre_reverse hook returned %d: reversed anyway\n",
				st->u->id, ret);
	}
	ret = ksplice_stop(&r);
	if (ret)
		return ksplice_fail(r.busy ?: sts[0]);
	for (i = 0; i < n; i++)
		ksplice_reversed_done(sts[i]);
	if (n > 1)
		pr_notice("%s: reversed with %u other updates in one stop_machine\n",
			  sts[0]->u->id, n - 1);
	return 0;
}

static int ksplice_reverse_top(struct ksplice_state *st)
{
	return ksplice_reverse_round(&st, 1);
}

/*
 * The newest update applied after @st that depends on it: one that
 * replaces one of @st's functions too (its calls go on to @st's
 * replacement), or that run-pre matched against code @st put in place (a
 * helper or an old function it found through @st's replacement, whose
 * deductions may point into @st's module). Updates that share nothing
 * with @st may be applied and reversed in any order. ksplice_mutex held.
 */
static struct ksplice_state *ksplice_dependent(struct ksplice_state *st)
{
	struct ksplice_state *later;
	u32 i, j;

	list_for_each_entry(later, &ksplice_applied, applied) {
		if (later == st)
			break;	/* newest first: the rest came before @st */
		for (i = 0; i < ksplice_nr_matched(later->u); i++)
			for (j = 0; j < st->u->nr_funcs; j++)
				if (later->funcs[i].addr == st->funcs[j].addr)
					return later;
	}
	return NULL;
}

/**
 * ksplice_reverse_group - reverse updates together, in one stop_machine
 * @sts:	the updates (e.g. the targets of one update)
 * @n:		how many
 *
 * All or none, as ksplice_apply_group(): each must be applied, and no
 * update applied after it may depend on it (not_last; a member that
 * depends on another member counts too: reverse them apart, newest
 * first). ksplice_mutex held.
 *
 * Return: 0, or the errno of the failed member's reason.
 */
int ksplice_reverse_group(struct ksplice_state **sts, unsigned int n)
{
	struct ksplice_state *dep;
	unsigned int i;

	for (i = 0; i < n; i++)
		ksplice_clear_reason(sts[i]);
	for (i = 0; i < n; i++) {
		struct ksplice_state *st = sts[i];

		if (st->stage != KSPLICE_STAGE_APPLIED) {
			ksplice_set_reason(st, KSPLICE_BAD_STAGE,
					   "not applied (%s)",
					   ksplice_stage_name(st->stage));
			return ksplice_fail(st);
		}
		dep = ksplice_dependent(st);
		if (dep) {
			ksplice_set_reason(st, KSPLICE_NOT_LAST,
					   "update %s, applied later, changes a function of this one: reverse it first",
					   dep->u->id);
			return ksplice_fail(st);
		}
	}
	return ksplice_reverse_round(sts, n);
}

/* Reverse @st; ksplice_mutex held. Returns 0 or the reason's errno. */
int ksplice_reverse(struct ksplice_state *st)
{
	return ksplice_reverse_group(&st, 1);
}

/* The registered update called @id, or NULL; ksplice_mutex held. */
struct ksplice_state *ksplice_find_id(const char *id)
{
	struct ksplice_state *st;

	list_for_each_entry(st, &ksplice_updates, list)
		if (!st->dead && !strcmp(st->u->id, id))
			return st;
	return NULL;
}

/*
 * ksplice_reverse_forced - reverse @st whatever it takes; ksplice_mutex held
 *
 * For code that goes away while the update is applied: the update module
 * itself (rmmod -f ignores the reference an applied update holds on its
 * module) or its target module (likewise). Exit paths and module notifiers
 * cannot fail, so neither can this: every update applied after @st is
 * reversed first, newest first (switching one off sends calls back to
 * the replacement of the update before it), and each waits for as
 * long as a task is inside the code it takes out of use.
 */
static void ksplice_reverse_forced(struct ksplice_state *st, const char *why)
{
	struct ksplice_state *top;

	while (st->stage == KSPLICE_STAGE_APPLIED) {
		top = list_first_entry(&ksplice_applied, struct ksplice_state,
				       applied);
		pr_notice("%s: reversing %s: %s\n", st->u->id, top->u->id, why);
		top->reason = KSPLICE_OK;
		top->message[0] = '\0';
		top->forced = true;
		/* Cannot fail forced: only a busy round returns, and it retries. */
		WARN_ON(ksplice_reverse_top(top));
		top->forced = false;
	}
}

void ksplice_unregister_update(const struct ksplice_update *u)
{
	struct ksplice_state *st;

	mutex_lock(&ksplice_mutex);
	st = ksplice_find(u);
	if (WARN_ON(!st)) {
		mutex_unlock(&ksplice_mutex);
		return;
	}
	/*
	 * An applied update holds a reference on its module, so only rmmod -f
	 * gets here with it applied. The module's text, where calls of the
	 * replaced functions go, is freed when this returns: reverse the
	 * update first.
	 * (Carrying the new code in memory the engine owns instead would not
	 * do: the new code refers to the module's data, strings and hooks.)
	 */
	if (st->stage == KSPLICE_STAGE_APPLIED)
		ksplice_reverse_forced(st, "its module is being removed");
	else if (st->kept)
		pr_warn("%s: kept module %s removed by force: what its new code published now points into freed memory\n",
			u->id, u->mod->name);
	list_del(&st->list);
	st->dead = true;
	mutex_unlock(&ksplice_mutex);
	ksplice_shadow_release(u->mod, u->id);
	pr_info("%s: unregistered\n", u->id);
	/* Waits for sysfs readers and writers, which see st->dead. */
	kobject_put(&st->kobj);
}
EXPORT_SYMBOL_GPL(ksplice_unregister_update);

struct ksplice_bench {
	u64 ns;
};

static int ksplice_empty_stopped(void *data)
{
	struct ksplice_bench *b = data;
	u64 t0 = ktime_get_ns();

	b->ns = ktime_get_ns() - t0;
	return 0;
}

/*
 * ksplice_bench_empty - one empty stop_machine round, taken the way apply
 * takes it: the baseline for stop_machine_total_ns.
 */
int ksplice_bench_empty(u64 *total_ns)
{
	struct ksplice_bench b;
	u64 t0;
	int ret;

	cpus_read_lock();
	ksplice_arch_lock_text();
	t0 = ktime_get_ns();
	ret = ksplice_kernel.stop_machine_cpuslocked(ksplice_empty_stopped, &b,
						     NULL);
	*total_ns = ktime_get_ns() - t0;
	ksplice_arch_unlock_text();
	cpus_read_unlock();
	return ret;
}

/*
 * A target module going away with an update applied to it (rmmod -f; the
 * update holds a reference on it otherwise). GOING is notified after its
 * exit function ran and before its text is freed: the saved bytes can
 * still be put back, and must be, or a later reverse would write them into
 * freed memory.
 */
static int ksplice_module_notify(struct notifier_block *nb,
				 unsigned long action, void *data)
{
	struct module *mod = data;
	struct ksplice_state *st;
	bool again;

	if (action != MODULE_STATE_GOING)
		return NOTIFY_DONE;
	mutex_lock(&ksplice_mutex);
	ksplice_jump_going(mod);
	do {
		again = false;
		list_for_each_entry(st, &ksplice_applied, applied) {
			if (st->target == mod) {
				ksplice_reverse_forced(st, "its target module is being removed");
				again = true;
				break;
			}
		}
	} while (again);
	mutex_unlock(&ksplice_mutex);
	return NOTIFY_OK;
}

static struct notifier_block ksplice_module_nb = {
	.notifier_call = ksplice_module_notify,
};

static int __init ksplice_init(void)
{
	int ret;

	ret = ksplice_find_lookup_name();
	if (ret)
		return ret;
	ret = ksplice_find_helpers();
	if (ret)
		return ret;
	ret = ksplice_arch_init();
	if (ret)
		return ret;
	ret = ksplice_ftrace_init();
	if (ret)
		return ret;
	ksplice_jump_init();
	ret = ksplice_text_init();
	if (ret)
		return ret;
	ret = ksplice_stack_init();
	if (ret)
		goto text_exit;
	ksplice_shadow_init();
	ret = ksplice_sysfs_init();
	if (ret)
		goto free_stack;
	ret = register_module_notifier(&ksplice_module_nb);
	if (ret)
		goto sysfs_exit;
	pr_info("engine loaded, update format %u\n", KSPLICE_FORMAT_VERSION);
	return 0;

sysfs_exit:
	ksplice_sysfs_exit();
free_stack:
	ksplice_stack_exit();
text_exit:
	ksplice_text_exit();
	return ret;
}

static void __exit ksplice_exit(void)
{
	/* Every update module depends on the engine: none is left. */
	WARN_ON(!list_empty(&ksplice_applied));
	unregister_module_notifier(&ksplice_module_nb);
	ksplice_sysfs_exit();
	ksplice_shadow_exit();
	ksplice_stack_exit();
	ksplice_text_exit();
}

module_init(ksplice_init);
module_exit(ksplice_exit);
MODULE_DESCRIPTION("ksplice: rebootless kernel updates (engine)");
MODULE_LICENSE("GPL");
