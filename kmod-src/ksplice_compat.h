/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksplice_compat.h - what differs between the kernel versions the engine
 * builds for, in one place.
 *
 * The engine calls unexported kernel functions through pointers it finds
 * in kallsyms (struct ksplice_kernel). The compiler cannot check such a
 * call against the kernel's prototype, so a prototype that changes
 * between versions would be called wrongly at run time. Each pointer is
 * checked here against the declaration in the headers the engine is built
 * with: a change fails the build, never the kernel.
 */
#ifndef _KSPLICE_COMPAT_H
#define _KSPLICE_COMPAT_H

#include <linux/build_bug.h>
#include <linux/kallsyms.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/stacktrace.h>
#include <linux/stop_machine.h>
#include <linux/version.h>

/* <asm/unaligned.h> moved to <linux/unaligned.h> in 6.12. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

#ifdef _KSPLICE_INTERNAL_H
#define KSPLICE_CHECK_PROTOTYPE(slot, sym)				\
	static_assert(__same_type(((struct ksplice_kernel *)0)->slot, &sym), \
		      "ksplice_kernel." #slot " does not match the prototype of " \
		      #sym " in this kernel's headers")

KSPLICE_CHECK_PROTOTYPE(lookup_name, kallsyms_lookup_name);
KSPLICE_CHECK_PROTOTYPE(on_each_match_symbol, kallsyms_on_each_match_symbol);
/*
 * 6.1 calls fn(data, name, mod, addr) for every module symbol; 6.12 takes
 * the module's name first and calls fn(data, name, addr): the engine's
 * call must change before it builds for 6.12 (it fails here until then).
 */
KSPLICE_CHECK_PROTOTYPE(module_on_each_symbol, module_kallsyms_on_each_symbol);
KSPLICE_CHECK_PROTOTYPE(stop_machine_cpuslocked, stop_machine_cpuslocked);
KSPLICE_CHECK_PROTOTYPE(save_stack_reliable, stack_trace_save_tsk_reliable);
KSPLICE_CHECK_PROTOTYPE(save_stack, stack_trace_save_tsk);
KSPLICE_CHECK_PROTOTYPE(idle_task, idle_task);
KSPLICE_CHECK_PROTOTYPE(size_offset, kallsyms_lookup_size_offset);
#endif

#endif /* _KSPLICE_COMPAT_H */
