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

/* <asm/unaligned.h> moved to <linux/unaligned.h> in 6.12. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

/*
 * ftrace_instruction_pointer_set() of 6.1 is ftrace_regs_set_instruction_pointer()
 * in 6.12 (the two versions checked; the rename lies between them).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
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

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
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
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#define ksplice_module_text_base(mod) \
	((unsigned long)(mod)->mem[MOD_TEXT].base)
#else
#define ksplice_module_text_base(mod) \
	((unsigned long)(mod)->core_layout.base)
#endif

#endif /* _KSPLICE_COMPAT_H */
