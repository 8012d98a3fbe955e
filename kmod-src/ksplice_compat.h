/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksplice_compat.h - what differs between the kernel versions the engine
 * builds for (Debian's 6.1 and 6.12), in one place.
 *
 * The prototypes of the kernel functions the engine finds in kallsyms are
 * checked where they are declared (struct ksplice_kernel takes the type of
 * each from the kernel's own declaration): a change fails the build.
 */
#ifndef _KSPLICE_COMPAT_H
#define _KSPLICE_COMPAT_H

#include <linux/version.h>

/*
 * The one version test: an out-of-tree module builds for kernels of more
 * than one version, which checkpatch's rule against LINUX_VERSION_CODE
 * (written for code merged into one tree) cannot know.
 */
#define KSPLICE_SINCE_6_12 (LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0))

/* <asm/unaligned.h> moved to <linux/unaligned.h> in 6.12. */
#if KSPLICE_SINCE_6_12
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

/*
 * Atomics without the instrumentation hooks (KASAN, KCSAN), for code that
 * must call nothing (the direct jump write, ksplice_text.c): 6.1's
 * arch_atomic_*() are raw_atomic_*() since 6.4, and 6.12's arch layer no
 * longer has every operation.
 */
#if KSPLICE_SINCE_6_12
#define ksplice_atomic_read	raw_atomic_read
#define ksplice_atomic_set	raw_atomic_set
#define ksplice_atomic_inc	raw_atomic_inc
#define ksplice_atomic_dec	raw_atomic_dec
#define ksplice_atomic_inc_return raw_atomic_inc_return
#define ksplice_atomic_cmpxchg	raw_atomic_cmpxchg
#else
#define ksplice_atomic_read	arch_atomic_read
#define ksplice_atomic_set	arch_atomic_set
#define ksplice_atomic_inc	arch_atomic_inc
#define ksplice_atomic_dec	arch_atomic_dec
#define ksplice_atomic_inc_return arch_atomic_inc_return
#define ksplice_atomic_cmpxchg	arch_atomic_cmpxchg
#endif

/*
 * ftrace_instruction_pointer_set() of 6.1 is ftrace_regs_set_instruction_pointer()
 * in 6.12 (the two versions checked; the rename lies between them).
 */
#if KSPLICE_SINCE_6_12
#define ftrace_instruction_pointer_set(fregs, ip) \
	ftrace_regs_set_instruction_pointer(fregs, ip)
#endif

/*
 * Calls @fn(@data, name, address) for each symbol of @mod.
 *
 * 6.1's module_kallsyms_on_each_symbol() walks every module's symbols and
 * passes the module to the callback; 6.12's takes the module's name and
 * passes none (the change lies between the two versions checked).
 */
typedef int (*ksplice_modsym_fn)(void *data, const char *name,
				 unsigned long addr);

#if KSPLICE_SINCE_6_12
static inline int ksplice_module_symbols(struct module *mod,
					 ksplice_modsym_fn fn, void *data)
{
	return ksplice_kernel.module_on_each_symbol(mod->name, fn, data);
}
#else
struct ksplice_modsym_filter {
	struct module *mod;
	ksplice_modsym_fn fn;
	void *data;
};

static inline int ksplice_modsym_filter_cb(void *data, const char *name,
					   struct module *mod,
					   unsigned long addr)
{
	struct ksplice_modsym_filter *f = data;

	return mod == f->mod ? f->fn(f->data, name, addr) : 0;
}

static inline int ksplice_module_symbols(struct module *mod,
					 ksplice_modsym_fn fn, void *data)
{
	struct ksplice_modsym_filter f = { .mod = mod, .fn = fn, .data = data };

	return ksplice_kernel.module_on_each_symbol(ksplice_modsym_filter_cb,
						    &f);
}
#endif

/*
 * Where a module's core text starts: 6.1 lays a module out in core_layout
 * and init_layout, 6.12 in mem[MOD_TEXT], mem[MOD_DATA], ...
 */
#if KSPLICE_SINCE_6_12
#define ksplice_module_text_base(mod) \
	((unsigned long)(mod)->mem[MOD_TEXT].base)
#else
#define ksplice_module_text_base(mod) \
	((unsigned long)(mod)->core_layout.base)
#endif

#ifdef CONFIG_X86_KERNEL_IBT
#include <asm/ibt.h>

/*
 * Every function starts with an ENDBR on an IBT kernel (6.12), and at boot
 * apply_seal_endbr() overwrites, whether or not the CPU has IBT, those of
 * the functions objtool found no indirect reference to with a 4-byte NOP
 * (gen_endbr_poison()). Run-pre takes that NOP in the running copy @run for
 * the ENDBR the old code @old has at its entry: what the kernel did at boot,
 * as for alternatives. Only at the entry, where objtool seals.
 */
static inline void ksplice_unseal_endbr(const u8 *old, u32 size, u8 *run)
{
	if (size >= ENDBR_INSN_SIZE &&
	    get_unaligned_le32(old) == gen_endbr() &&
	    get_unaligned_le32(run) == gen_endbr_poison())
		memcpy(run, old, ENDBR_INSN_SIZE);
}
#else
static inline void ksplice_unseal_endbr(const u8 *old, u32 size, u8 *run)
{
}
#endif

#ifdef CONFIG_CALL_THUNKS
/*
 * With call depth tracking active (retbleed=stuff), the kernel rewrites at
 * boot each direct call to a function of its core text into a call to the
 * accounting thunk it writes at the end of the callee's padding
 * (callthunks.c: patch_call(), patch_dest()), which then runs into the
 * callee. A call deducing an address inside a padding symbol (__pfx_NAME,
 * FUNCTION_PADDING_BYTES long), not at its start, and just before the start
 * of a symbol, deduces that symbol. A call the compiler made never targets
 * the inside of a padding.
 */
static inline unsigned long ksplice_call_thunk_dest(unsigned long dest)
{
	unsigned long size, off, fsize, foff;

	if (!cpu_feature_enabled(X86_FEATURE_CALL_DEPTH))
		return dest;
	if (!ksplice_kernel.size_offset(dest, &size, &off) || !off ||
	    size != CONFIG_FUNCTION_PADDING_BYTES)
		return dest;
	if (!ksplice_kernel.size_offset(dest - off + size, &fsize, &foff) ||
	    foff)
		return dest;
	return dest - off + size;
}
#else
static inline unsigned long ksplice_call_thunk_dest(unsigned long dest)
{
	return dest;
}
#endif

#endif /* _KSPLICE_COMPAT_H */
