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

#endif /* _KSPLICE_COMPAT_H */
