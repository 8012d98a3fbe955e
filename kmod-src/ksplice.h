/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksplice.h - the tables an update module hands to the ksplice engine.
 *
 * An update module carries, for every function it replaces, the code the
 * function had in the object the update was built from ("old code"), the
 * relocations inside that code, and the address of the replacement; plus
 * the relocations of the replacement code that only the engine can resolve.
 * It registers the tables from its init function and unregisters them from
 * its exit function; the engine (ksplice.ko) does everything else.
 *
 * The layout is fixed (see docs/update-format.md, "Module tables"): every
 * field is naturally aligned, there is no implicit padding, and the sizes
 * are checked by the engine at build time, so a generator may emit the
 * tables as C initialisers or as assembly (.quad/.long/.short directives).
 * Pointers are plain data relocations (R_X86_64_64, R_AARCH64_ABS64) that
 * the module loader resolves inside the update module.
 *
 * Changing the layout or the meaning of a field means bumping
 * KSPLICE_FORMAT_VERSION; the engine refuses versions it does not know.
 */
#ifndef _KSPLICE_H
#define _KSPLICE_H

#include <linux/types.h>

#define KSPLICE_FORMAT_VERSION	6
/*
 * The oldest version the engine still reads: version 4 has the layout of
 * 5 and 6 and no KSPLICE_SITE_ENTRY_JUMP site, so its updates are applied
 * as they always were (through ftrace only); version 5's windows are at
 * most 8 bytes and hold no relocation, which version 6 allows (arm64's
 * long jump), and are applied as version 6's.
 */
#define KSPLICE_FORMAT_VERSION_MIN	4

/* Longest id: it names a sysfs directory, /sys/kernel/ksplice/<id>. */
#define KSPLICE_ID_MAX		64

/**
 * struct ksplice_reloc - a relocation inside the old code of a function
 * @offset:	offset of the relocated field from the start of the function
 * @type:	ELF relocation type (R_X86_64_*, R_AARCH64_*)
 * @symbol:	target symbol, as named in the object the update was built
 *		from (a section name such as ".rodata.str1.1" for section
 *		symbols)
 * @addend:	the relocation's addend
 *
 * The bytes of the field are wildcards while the old code is matched
 * against the running kernel; the engine instead deduces the target's
 * address from what the running code holds there (for R_X86_64_PC32 and
 * R_X86_64_PLT32: S = P + (s32)field - A, with P the field's address;
 * for R_X86_64_32S: S = (s32)field - A; for R_X86_64_64: S = field - A)
 * and requires every use of a symbol to deduce the same address. Symbols
 * whose names start with '.' are local to their object: their uses are
 * only compared within one function.
 *
 * Entries of one function are sorted by @offset. 24 bytes.
 */
struct ksplice_reloc {
	u32 offset;
	u32 type;
	const char *symbol;
	s64 addend;
};

/* Kinds of struct ksplice_site. */
enum ksplice_site_kind {
	/* A static branch: a jump to @target, or a nop of the same length. */
	KSPLICE_SITE_JUMP_LABEL = 1,
	/* An alternative or paravirt site: any @len bytes are accepted. */
	KSPLICE_SITE_ALTERNATIVE = 2,
	/*
	 * (Format 5; 6: up to 12 bytes, relocations inside.) The window at
	 * the entry of a function with no ftrace site, over which the
	 * engine writes a direct jump to the replacement: whole
	 * instructions, no branch target, no other site. No site for
	 * run-pre: its bytes are old code, matched with its relocations.
	 * @target is the offset in the replacement where the jump lands. At
	 * most one per function.
	 */
	KSPLICE_SITE_ENTRY_JUMP = 3,
};

/**
 * struct ksplice_site - code the kernel rewrites at boot or at run time
 * @offset:	offset of the site from the start of the function
 * @len:	length of the site in bytes
 * @kind:	enum ksplice_site_kind
 * @target:	KSPLICE_SITE_JUMP_LABEL: offset of the jump target from the
 *		start of the function (from the entry in __jump_table);
 *		KSPLICE_SITE_ENTRY_JUMP: offset in the replacement where the
 *		engine's jump lands
 * @reserved:	zero
 *
 * The generator takes them from the old object's __jump_table,
 * .altinstructions and .parainstructions. Sorted by @offset, not
 * overlapping. 16 bytes.
 */
struct ksplice_site {
	u32 offset;
	u16 len;
	u16 kind;
	s32 target;
	u32 reserved;
};

/**
 * struct ksplice_func - one function to replace, or to find
 *
 * The same structure describes the update's helpers (struct
 * ksplice_update @helpers): unchanged functions of the patched objects that
 * are only matched, never replaced, so that run-pre matching finds them
 * (or the statics they use) among namesakes for the new code's relocations.
 * A helper has @new_func NULL and @new_size 0, is never redirected and is
 * not part of the stack check.
 *
 * @name:	its name in kallsyms (may be shared by several functions:
 *		run-pre matching picks the one whose code matches)
 * @old_code:	its bytes in the object the update was built from
 * @old_size:	length of @old_code (the function's st_size)
 * @nr_old_relocs: number of entries in @old_relocs
 * @old_relocs:	relocations inside @old_code, sorted by offset
 * @nr_sites:	number of entries in @sites
 * @new_size:	length of the replacement function
 * @sites:	code the kernel rewrites at run time, sorted by offset
 * @new_func:	the replacement function, in the update module
 *
 * 56 bytes.
 */
struct ksplice_func {
	const char *name;
	const u8 *old_code;
	u32 old_size;
	u32 nr_old_relocs;
	const struct ksplice_reloc *old_relocs;
	u32 nr_sites;
	u32 new_size;
	const struct ksplice_site *sites;
	void *new_func;
};

/**
 * struct ksplice_new_reloc - a relocation the engine writes into new code
 * @place:	the field to write, inside the update module
 * @type:	ELF relocation type (R_X86_64_PC32, _PLT32, _32S, _32, _64)
 * @reserved:	zero
 * @symbol:	the target symbol
 * @old_func:	an entry of this update's @funcs or @helpers whose old code
 *		refers to @symbol, or which is @symbol itself: the symbol's
 *		address is then the one run-pre matching deduced (or matched).
 *		A pointer, not a name: two objects of one update may each
 *		have a static function of the same name. NULL: look the
 *		symbol up in kallsyms (vmlinux, then the target module), where
 *		it must be unique.
 * @addend:	the relocation's addend
 *
 * For what the module loader cannot resolve: symbols that are not exported
 * (static functions and data, unexported globals). The generator leaves
 * the field zero and emits no relocation for it; the engine writes
 * S + A (- P for PC-relative types) with the kernel's text patching
 * primitive before the update is applied. 40 bytes.
 */
struct ksplice_new_reloc {
	void *place;
	u32 type;
	u32 reserved;
	const char *symbol;
	const struct ksplice_func *old_func;
	s64 addend;
};

/**
 * struct ksplice_key - the key of a jump label of the new code
 * @code:	the jump label's code, in the update module: it names the
 *		module's __jump_table entry (the loader sorts the table, so
 *		an entry has no fixed place)
 * @key:	the key's symbol when the module loader resolves it (an
 *		exported key), else NULL
 * @symbol:	the key's symbol, as the running kernel names it; a
 *		tracepoint's is __tracepoint_NAME
 * @old_func:	as in struct ksplice_new_reloc: bind @symbol through run-pre
 *		matching of this entry of @funcs or @helpers; NULL: @key, else
 *		kallsyms (unique), else a tracepoint of that name
 * @addend:	offset of the key from @symbol, plus the entry's branch flag
 *		(bit 0), as in the entry's relocation
 *
 * The module loader registers a module's jump labels with their keys when
 * the module comes (jump_label_add_module()), before ksplice could resolve
 * a key that is not exported. Until the update is applied, the entries of
 * these jump labels are keyed on a static key of the update module's own,
 * which nothing enables; the engine then writes the real key into each
 * entry and registers the module's jump labels again. 40 bytes.
 */
struct ksplice_key {
	void *code;
	void *key;
	const char *symbol;
	const struct ksplice_func *old_func;
	s64 addend;
};

/**
 * struct ksplice_update - an update, as registered by its module
 * @format_version: KSPLICE_FORMAT_VERSION
 * @flags:	KSPLICE_UPDATE_* bits; the engine refuses others
 * @id:		unique id, [A-Za-z0-9_.-], at most KSPLICE_ID_MAX-1 chars
 * @description: one line for humans
 * @target:	"vmlinux", or the name of the module whose functions are
 *		replaced (it must be loaded)
 * @mod:	THIS_MODULE
 * @nr_funcs:	number of entries in @funcs
 * @nr_new_relocs: number of entries in @new_relocs
 * @funcs:	the functions to replace
 * @new_relocs:	relocations of the new code for the engine to resolve
 * @nr_helpers:	number of entries in @helpers
 * @reserved:	zero
 * @helpers:	functions only matched (see struct ksplice_func)
 * @nr_keys:	number of entries in @keys
 * @reserved2:	zero
 * @keys:	jump labels of the new code for the engine to bind
 * @pre_apply:	author hook or NULL: runs after run-pre matching and the
 *		resolution of the new code, before stop_machine; non-zero
 *		aborts the apply (abort_cause "hook")
 * @post_apply:	author hook or NULL: runs once the jumps are written,
 *		outside stop_machine
 * @pre_reverse: author hook or NULL: runs before stop_machine of reverse;
 *		non-zero vetoes the reverse (abort_cause "hook")
 * @post_reverse: author hook or NULL: runs once the old bytes are restored
 *
 * An update with a hook may replace no function (@nr_funcs zero, @funcs
 * NULL): its hooks then do all the work, e.g. set a variable whose
 * initializer the patch changes.
 *
 * 128 bytes (format versions 4 and 5). May be const: the engine never writes the
 * tables.
 */
struct ksplice_update {
	u32 format_version;
	u32 flags;
	const char *id;
	const char *description;
	const char *target;
	struct module *mod;
	u32 nr_funcs;
	u32 nr_new_relocs;
	const struct ksplice_func *funcs;
	const struct ksplice_new_reloc *new_relocs;
	int (*pre_apply)(void);
	void (*post_apply)(void);
	int (*pre_reverse)(void);
	void (*post_reverse)(void);
	u32 nr_helpers;
	u32 reserved;
	const struct ksplice_func *helpers;
	u32 nr_keys;
	u32 reserved2;
	const struct ksplice_key *keys;
};

/*
 * struct ksplice_update @flags.
 *
 * KSPLICE_UPDATE_KEEP_MODULE: the new code takes the address of code or
 * data that only the update module has (a new function handed to a work
 * item, a timer or call_rcu(); a struct the kernel links into a list; an
 * f_op table), which may still be reachable after the update is reversed.
 * Reverse then keeps the reference it held on the module while applied,
 * so the module cannot be unloaded (rmmod: "in use") and its code and data
 * stay where the published addresses point. The generator sets it; see
 * docs/kernel-interface.md, "Safety rules".
 */
#define KSPLICE_UPDATE_KEEP_MODULE	0x1
/*
 * KSPLICE_UPDATE_OBJECTS: the @name of every struct ksplice_func (replaced
 * functions and helpers) is followed, after its terminating NUL, by the
 * path of the object it comes from ("cmdline_proc_show\0fs/proc/cmdline.o"),
 * so that run-pre matching compares what two functions deduced for a
 * symbol only when they come from one object: another object's static
 * "lock" is another lock. Without it, every function counts as one object.
 */
#define KSPLICE_UPDATE_OBJECTS		0x2
#define KSPLICE_UPDATE_FLAGS		(KSPLICE_UPDATE_KEEP_MODULE | \
					 KSPLICE_UPDATE_OBJECTS)

/*
 * ksplice_register_update - make an update known to the engine
 *
 * Checks the tables and creates /sys/kernel/ksplice/<id>/; nothing in the
 * running kernel changes until "apply" is written to its stage file.
 * Returns 0, -EINVAL for malformed tables or an unknown format version,
 * -EEXIST if the id is taken, or -ENOMEM.
 */
int ksplice_register_update(const struct ksplice_update *update);

/*
 * ksplice_unregister_update - forget an update (from the module's exit)
 *
 * An applied update holds a reference on its module, so this only runs
 * for updates that are not applied.
 */
void ksplice_unregister_update(const struct ksplice_update *update);

/*
 * Every update module includes this header: mark it as a live patch, as
 * the kernel's livepatch modules are, so that loading it taints the
 * kernel with TAINT_LIVEPATCH ('K') and /sys/module/<update>/taint says
 * so. Kernels without CONFIG_LIVEPATCH refuse modules with this tag; the
 * engine then still taints the kernel when an update is applied. The
 * engine itself (KSPLICE_ENGINE) is not a live patch.
 */
#if defined(MODULE) && !defined(KSPLICE_ENGINE) && IS_ENABLED(CONFIG_LIVEPATCH)
#include <linux/module.h>
MODULE_INFO(livepatch, "Y");
#endif

#endif /* _KSPLICE_H */
