/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksplice_internal.h - what the parts of the engine share.
 */
#ifndef _KSPLICE_INTERNAL_H
#define _KSPLICE_INTERNAL_H

#include <linux/jump_label.h>
#include <linux/kallsyms.h>
#include <linux/kobject.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/stacktrace.h>
#include <linux/stop_machine.h>
#include "ksplice.h"

/* Updates applied or reversed together through the group file, at most. */
#define KSPLICE_GROUP_MAX	16

/*
 * Longest direct jump window of any architecture (arm64's long form:
 * adrp x16; add x16; br x16; x86-64's jmp rel32 is 5).
 */
#define KSPLICE_JUMP_MAX	12

/* Tasks named in the conflicts file, at most. */
#define KSPLICE_MAX_CONFLICTS	16

#define KSPLICE_MSG_LEN		512

/* /sys/kernel/ksplice/stop_machine_empty_ns, with bench=1. */
#define KSPLICE_BENCH_FILE	"stop_machine_empty_ns"
/* /sys/kernel/ksplice/group: apply or reverse several updates at once. */
#define KSPLICE_GROUP_FILE	"group"

enum ksplice_stage {
	KSPLICE_STAGE_LOADED,	/* registered, never applied */
	KSPLICE_STAGE_APPLIED,
	KSPLICE_STAGE_REVERSED,	/* applied once, then undone */
};

/*
 * Why the last apply or reverse failed. Each reason has one message
 * format (ksplice_set_reason() callers) and a stable name in abort_cause.
 */
enum ksplice_reason {
	KSPLICE_OK,
	KSPLICE_BAD_FORMAT,		/* tables malformed or unknown version */
	KSPLICE_TARGET_MISSING,		/* target module not loaded */
	KSPLICE_NO_CANDIDATE,		/* no symbol of that name */
	KSPLICE_CODE_MISMATCH,		/* run-pre: running code differs */
	KSPLICE_AMBIGUOUS,		/* run-pre: several candidates match */
	KSPLICE_SYMBOL_CONFLICT,	/* run-pre: deductions disagree */
	KSPLICE_UNRESOLVED,		/* new code: symbol not resolved */
	KSPLICE_BAD_RELOC,		/* unsupported type or out of range */
	KSPLICE_TOO_SHORT,		/* no room for the trampoline */
	KSPLICE_BUSY,			/* a task is inside a function */
	KSPLICE_NOT_LAST,		/* undo out of order */
	KSPLICE_CODE_CHANGED,		/* bytes we wrote or saved changed */
	KSPLICE_BAD_STAGE,		/* e.g. apply when applied */
	KSPLICE_NOMEM,
	KSPLICE_HOOK,			/* an author hook refused */
	KSPLICE_SITE_CONFLICT,		/* trampoline over a run-time site */
	KSPLICE_NO_FTRACE,		/* no ftrace site: notrace, noinstr */
	KSPLICE_FTRACE_OWNED,		/* another IPMODIFY ftrace_ops owns it */
	KSPLICE_FTRACE,			/* ftrace refused for another reason */
	KSPLICE_NMI_MASK,		/* a CPU could not mask NMI-like events */
	KSPLICE_NR_REASONS,
};

struct ksplice_conflict {
	pid_t pid;
	char comm[TASK_COMM_LEN];
	const char *func;
	const char *part;		/* "" or ".cold": where in @func */
	unsigned long offset;
	bool unreliable;		/* stack could not be walked reliably */
};

/* The engine's state for one function of an update. */
struct ksplice_func_state {
	const struct ksplice_func *f;
	unsigned long addr;		/* the function patched (running) */
	unsigned long code;		/* the code run-pre matched */
	unsigned long code_size;
	unsigned long *values;		/* deduced S per old reloc */
	unsigned long *known;		/* bitmap: values[i] is deduced */
	unsigned long addr_size;	/* its size, from kallsyms */
	unsigned long cold;		/* its .cold part, if run-pre found one */
	unsigned long cold_size;
	/*
	 * A function with no ftrace site, diverted by a direct jump over its
	 * window (ksplice_text.c); NULL for one claimed through ftrace.
	 */
	struct ksplice_jsite *js;
	unsigned long jump_dest;	/* where this update's jump goes */
	unsigned long jump_emulate;	/* where the int3 handler sends a CPU */
	u8 jump[KSPLICE_JUMP_MAX];	/* the window with the jump to jump_dest */
	u8 jump_from[KSPLICE_JUMP_MAX];	/* the window before the round */
	u8 jump_to[KSPLICE_JUMP_MAX];	/* and after it */
	/*
	 * The window as run-pre matched it in the running code, relocated
	 * fields included: what it must still hold when claimed.
	 */
	u8 jump_run[KSPLICE_JUMP_MAX];
	bool jump_skip;			/* forced reverse: window not ours */
	/*
	 * arm64: a writable alias of the window, mapped before the round's
	 * stop_machine and unmapped after it (ksplice_text_prepare()), so
	 * that the write calls nothing traceable; NULL on x86.
	 */
	void *jump_alias;
	void *jump_map;			/* the alias's mapping, for unmap */
	/*
	 * A function claimed through ftrace: its ftrace_ops' switch and what
	 * the round stores there (ksplice_ftrace_plan()); NULL for one
	 * diverted by a direct jump.
	 */
	unsigned long *switch_word;
	unsigned long switch_to;
};

/*
 * A stop_machine round that writes windows (ksplice_text.c): every CPU
 * runs the callback; the first in checks and writes, the others follow
 * its steps.
 */
struct ksplice_text_round {
	struct ksplice_state **sts;
	unsigned int n;
	bool reverse;
	bool done;			/* the writer is done: followers leave */
	/*
	 * A window of several instructions changes (arm64's long jump
	 * going in, out, or to another destination, even when only its
	 * first word differs: only b, bl, nop and a few others may change
	 * under a running CPU, ARM ARM B2.2.5): every CPU masks what
	 * NMI-like events it can for the round (ksplice_arch_mask_nmi()),
	 * and the writer writes the rest of each window before its first
	 * instruction.
	 */
	bool multiword;
	/*
	 * The writer masked them (a follower knows its own); the first CPU
	 * that could not, with its error (ksplice_text_mask()), or 0.
	 */
	bool writer_masked;
	atomic_t nmi_mask_failed;
	/*
	 * A forced reverse the firmware kept refusing goes on without the
	 * mask (ksplice_text_shut()): nmi_unmasked is the failure it went on
	 * with. nmi_masked counts the masks not yet undone.
	 */
	bool nmi_mask_optional;
	int nmi_unmasked;
	atomic_t nmi_masked;
	atomic_t entered;		/* CPUs in the callback */
	atomic_t step;			/* steps the writer completed */
	atomic_t acked;			/* followers serialised after the step */
	/* Tests only (test_only_nmi_in_jump_write): NMIs sent, trapped. */
	unsigned int test_nmis;
	unsigned int test_traps;
};

/*
 * How the stack check of the last round went (ksplice_stack.c): what the
 * prescan found, and how many stacks the pause checked, and how.
 */
struct ksplice_pause_stats {
	unsigned int prescan_clean;	/* tasks found clean before the pause */
	unsigned int prescan_again;	/* tasks left to the pause */
	unsigned int prescan_busy;	/* of those, found inside the code */
	unsigned int checked;		/* stacks the pause checked */
	/* NULL: the pause checked the switch log's tasks; else why all */
	const char *walk;
};

/*
 * Benchmarks only (the engine loaded with pause_profile=1): where the last
 * round's stop_machine callback spent its time, in ns, so that a cut is
 * made where the time goes. Zero when not measured. Each part costs the
 * pause a clock read (ktime_get_ns()), a few microseconds under QEMU's
 * TCG: the pause is measured without it.
 */
struct ksplice_pause_profile {
	u64 gap;		/* whether the switch log is enough */
	u64 again;		/* the tasks the prescan left to the pause */
	u64 log;		/* the tasks of the switch log */
	u64 idle;		/* the idle tasks */
	u64 scan;		/* of those three: word scans of stacks */
	u64 unwind;		/* of those three: unwinder walks */
	u64 text_check;		/* direct jump windows checked */
	u64 sw;			/* ksplice_ftrace_switch() of every member */
	u64 write;		/* direct jumps written */
	unsigned int logged;	/* tasks in the switch logs */
	unsigned int scanned;	/* stacks scanned */
	unsigned int unwound;	/* stacks walked by the unwinder */
};

/*
 * A static key, not a test of the parameter: off, each part of the pause
 * costs a nop, not a branch, and the code it runs is the code it would
 * run without the profile (a branch is also one more block for an
 * emulator to translate on the first run, which is what the profile
 * measures).
 */
DECLARE_STATIC_KEY_FALSE(ksplice_pause_profile_key);

static __always_inline bool ksplice_profiling(void)
{
	return static_branch_unlikely(&ksplice_pause_profile_key);
}

/* A timestamp for the profile, or 0 when the engine does not profile. */
static __always_inline u64 ksplice_prof_now(void)
{
	return ksplice_profiling() ? ktime_get_ns() : 0;
}

/* The engine's state for one registered update. */
struct ksplice_state {
	struct kobject kobj;
	struct list_head list;		/* in ksplice_updates, registration order */
	struct list_head applied;	/* in ksplice_applied, newest first */
	const struct ksplice_update *u;
	struct module *target;		/* NULL for vmlinux; ref held when applied */
	struct ksplice_func_state *funcs;
	bool dead;			/* unregistered: sysfs writes refused */
	bool forced;			/* reversing because code goes away */
	/*
	 * Reversed with KSPLICE_UPDATE_KEEP_MODULE: the reference on the
	 * update module taken by its first apply is never dropped.
	 */
	bool kept;

	enum ksplice_stage stage;
	enum ksplice_reason reason;
	char message[KSPLICE_MSG_LEN];
	unsigned int nr_conflicts;
	struct ksplice_conflict conflicts[KSPLICE_MAX_CONFLICTS];
	/*
	 * The lowest and highest address of the code the stack scan looks
	 * for (the update module aside), for the direction of the round
	 * running: set once per round by ksplice_stop().
	 */
	unsigned long scan_lo, scan_hi;
	struct ksplice_pause_stats pause;
	struct ksplice_pause_profile prof;
	unsigned int attempts;		/* stop_machine rounds of the last try */
	u64 stop_ns;			/* inside the stop_machine callback */
	u64 stop_total_ns;		/* around stop_machine() */
};

/*
 * Unexported kernel helpers, found at load time. Each is declared with the
 * type of the kernel's own declaration (typeof(&sym)), so that a kernel
 * whose helper changed its signature fails to build the engine instead of
 * calling it with the wrong arguments.
 */
struct ksplice_kernel {
	typeof(&kallsyms_lookup_name) lookup_name;
	typeof(&kallsyms_on_each_match_symbol) on_each_match_symbol;
	typeof(&module_kallsyms_on_each_symbol) module_on_each_symbol;
	typeof(&find_module) find_module;
	typeof(&stop_machine_cpuslocked) stop_machine_cpuslocked;
	/* Absent where there is no reliable unwinder (arm64 in 6.1). */
	typeof(&stack_trace_save_tsk_reliable) save_stack_reliable;
	typeof(&idle_task) idle_task;
	/* The prescan (ksplice_core.c); optional. */
	typeof(&task_call_func) task_call_func;
	typeof(&kallsyms_lookup_size_offset) size_offset;
	/* ksplice_jump.c binds jump labels under it (CONFIG_JUMP_LABEL). */
	typeof(&jump_label_lock) jump_label_lock;
	typeof(&jump_label_unlock) jump_label_unlock;
};

extern struct ksplice_kernel ksplice_kernel;

/*
 * The update's functions and then its helpers share one array of states
 * (struct ksplice_state @funcs): loops over the replaced functions stop at
 * nr_funcs, run-pre matching goes on through the helpers.
 */
static inline u32 ksplice_nr_matched(const struct ksplice_update *u)
{
	return u->nr_funcs + u->nr_helpers;
}

static inline const struct ksplice_func *
ksplice_func_at(const struct ksplice_update *u, u32 i)
{
	return i < u->nr_funcs ? &u->funcs[i] : &u->helpers[i - u->nr_funcs];
}

/*
 * The object @f comes from (KSPLICE_UPDATE_OBJECTS), or "" when the
 * tables do not say: then all functions of @u count as one object.
 */
static inline const char *ksplice_func_object(const struct ksplice_update *u,
					      const struct ksplice_func *f)
{
	if (!(u->flags & KSPLICE_UPDATE_OBJECTS))
		return "";
	return f->name + strlen(f->name) + 1;
}

static inline bool ksplice_same_object(const struct ksplice_update *u,
				       const struct ksplice_func *a,
				       const struct ksplice_func *b)
{
	return !strcmp(ksplice_func_object(u, a), ksplice_func_object(u, b));
}

/* The index of @f among the matched functions of @u, or -1. */
static inline int ksplice_func_index(const struct ksplice_update *u,
				     const struct ksplice_func *f)
{
	if (u->nr_funcs && f >= u->funcs && f < u->funcs + u->nr_funcs)
		return f - u->funcs;
	if (u->nr_helpers && f >= u->helpers &&
	    f < u->helpers + u->nr_helpers)
		return u->nr_funcs + (f - u->helpers);
	return -1;
}

/*
 * ksplice_mutex serialises everything that reads or changes the list of
 * updates and their stages: registration, apply, reverse, sysfs reads of
 * the state. Taken before cpus_read_lock() and text_mutex.
 */
extern struct mutex ksplice_mutex;
extern struct list_head ksplice_applied;

unsigned long ksplice_lookup_name(const char *name);
struct ksplice_func_state *ksplice_top_at(unsigned long addr);
void ksplice_set_reason(struct ksplice_state *st, enum ksplice_reason reason,
			const char *fmt, ...) __printf(3, 4);
const char *ksplice_reason_name(enum ksplice_reason reason);
const char *ksplice_stage_name(enum ksplice_stage stage);

/* ksplice_core.c */
int ksplice_apply(struct ksplice_state *st);
int ksplice_reverse(struct ksplice_state *st);
int ksplice_apply_group(struct ksplice_state **sts, unsigned int n);
int ksplice_reverse_group(struct ksplice_state **sts, unsigned int n);
struct ksplice_state *ksplice_find_id(const char *id);
int ksplice_bench_empty(u64 *total_ns);

/* ksplice_stack.c */
int ksplice_stack_init(void);
void ksplice_stack_exit(void);
void ksplice_scan_bounds(struct ksplice_state *st, bool reverse);
void ksplice_prescan(struct ksplice_state **sts, unsigned int n,
		     bool reverse, unsigned int attempt);
void ksplice_prescan_end(struct ksplice_state **sts, unsigned int n,
			 unsigned int attempt, int ret);
int ksplice_check_stacks(struct ksplice_state *st, bool reverse);

/* ksplice_match.c */
int ksplice_run_pre(struct ksplice_state *st);
int ksplice_resolve_new_relocs(struct ksplice_state *st);
int ksplice_count_symbol(struct ksplice_state *st, const char *name,
			 unsigned long *addr);

/* ksplice_jump.c */
#ifdef CONFIG_JUMP_LABEL
void ksplice_jump_init(void);
int ksplice_jump_check(const struct ksplice_update *u);
int ksplice_jump_bind(struct ksplice_state *st);
void ksplice_jump_going(struct module *mod);
#else
static inline void ksplice_jump_init(void) { }
static inline int ksplice_jump_check(const struct ksplice_update *u)
{
	return u->nr_keys || u->reserved2 ? -EINVAL : 0;
}
static inline int ksplice_jump_bind(struct ksplice_state *st) { return 0; }
static inline void ksplice_jump_going(struct module *mod) { }
#endif

/* ksplice_ftrace.c */
int ksplice_ftrace_init(void);
int ksplice_ftrace_claim(struct ksplice_state *st);
void ksplice_ftrace_release(struct ksplice_state *st);
void ksplice_ftrace_plan(struct ksplice_state *st, bool on);
void ksplice_ftrace_switch(struct ksplice_state *st);

/* ksplice_text.c */
struct ksplice_jsite;
int ksplice_text_init(void);
void ksplice_text_exit(void);
const struct ksplice_site *ksplice_jump_window(const struct ksplice_func *f);
const char *ksplice_text_kprobe(unsigned long addr, unsigned long size,
				char *buf, size_t len);
int ksplice_text_claim(struct ksplice_state *st);
void ksplice_text_release(struct ksplice_state *st);
bool ksplice_text_used(const struct ksplice_state *st);
int ksplice_text_prepare(struct ksplice_text_round *tr);
void ksplice_text_finish(struct ksplice_text_round *tr);
int ksplice_text_check(struct ksplice_text_round *tr,
		       struct ksplice_state **failed);
int ksplice_text_shut(struct ksplice_text_round *tr,
		      struct ksplice_state **failed);
void ksplice_text_write(struct ksplice_text_round *tr);
void ksplice_text_follow(struct ksplice_text_round *tr);
void ksplice_text_test_report(struct ksplice_text_round *tr);
void ksplice_text_after(struct ksplice_text_round *tr);

/* ksplice_sysfs.c */
int ksplice_sysfs_init(void);
void ksplice_sysfs_exit(void);
int ksplice_sysfs_add(struct ksplice_state *st);
void ksplice_state_release(struct ksplice_state *st);

/* ksplice_shadow.c */
void ksplice_shadow_init(void);
void ksplice_shadow_exit(void);
void ksplice_shadow_release(struct module *mod, const char *id);

/* arch/<arch>/ksplice_arch.c */
int ksplice_arch_init(void);
void ksplice_arch_prepare_run(const struct ksplice_func *f, u8 *run);
int ksplice_arch_match_reloc(const struct ksplice_func *f, u32 i,
			     const u8 *run, unsigned long run_addr,
			     u32 *start, u32 *end, unsigned long *value,
			     bool *has_value);
int ksplice_arch_match_site(const struct ksplice_site *s, const u8 *old,
			    const u8 *run, u32 size);
int ksplice_arch_reloc_bytes(u32 type, unsigned long place, unsigned long sym,
			     s64 addend, u8 *buf);
void ksplice_arch_lock_text(void);
void ksplice_arch_unlock_text(void);
void ksplice_arch_poke(void *addr, const void *bytes, size_t len);
void ksplice_arch_sync(void);
void ksplice_arch_sync_core(void);
int ksplice_arch_jump(unsigned long site, unsigned long dest, u32 room,
		      bool force_long, u8 *buf, const char **why);
int ksplice_arch_check_window(const struct ksplice_site *s);
int ksplice_arch_mask_nmi(void);
void ksplice_arch_unmask_nmi(void);
int ksplice_arch_map_window(unsigned long site, u32 len, void **alias,
			    void **map);
void ksplice_arch_unmap_window(void *map);
#ifdef CONFIG_X86
void ksplice_arch_poke_stopped(void *addr, const void *bytes, size_t len);
#else
void ksplice_arch_poke_alias(void *alias, void *addr, const u8 *word);
#endif
const char *ksplice_arch_text_reserved(void *start, void *end);
unsigned long ksplice_arch_saved_sp(struct task_struct *t);
unsigned long ksplice_arch_code_addr(unsigned long word);
#ifdef CONFIG_X86
void ksplice_arch_send_nmi(unsigned int cpu);
#endif

#include "ksplice_compat.h"

#endif /* _KSPLICE_INTERNAL_H */
