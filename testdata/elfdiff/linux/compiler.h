/* SPDX-License-Identifier: GPL-2.0 */
/* The part of the kernel's compiler header that ksplice-patch.h uses. */
#include "../kernel.h"
#define __test_attr(a)	__attribute__((a))
#define __used		__test_attr(__used__)
#define ___PASTE(a, b)	a##b
#define __PASTE(a, b)	___PASTE(a, b)
#define __UNIQUE_ID(prefix) __PASTE(__PASTE(__UNIQUE_ID_, prefix), __COUNTER__)
