/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kpatch-syscall.h - kpatch's KPATCH_SYSCALL_DEFINEn, for ksplice create.
 *
 * kpatch asks authors to write KPATCH_SYSCALL_DEFINEn instead of
 * SYSCALL_DEFINEn when a patch changes a system call. ksplice patches a
 * system call through the functions SYSCALL_DEFINEn expands to (on x86-64
 * __do_sys_NAME, or __se_sys_NAME and __x64_sys_NAME where the compiler
 * inlines the body), with or without these macros, which therefore expand
 * to exactly what SYSCALL_DEFINEn does: the object code is the same.
 */
#ifndef _KPATCH_SYSCALL_H
#define _KPATCH_SYSCALL_H

#include <linux/syscalls.h>
#include "kpatch-macros.h"

#define KPATCH_SYSCALL_DEFINE0(name)	SYSCALL_DEFINE0(name)
#define KPATCH_SYSCALL_DEFINE1(name, ...) SYSCALL_DEFINE1(name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE2(name, ...) SYSCALL_DEFINE2(name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE3(name, ...) SYSCALL_DEFINE3(name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE4(name, ...) SYSCALL_DEFINE4(name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE5(name, ...) SYSCALL_DEFINE5(name, __VA_ARGS__)
#define KPATCH_SYSCALL_DEFINE6(name, ...) SYSCALL_DEFINE6(name, __VA_ARGS__)

#endif /* _KPATCH_SYSCALL_H */
