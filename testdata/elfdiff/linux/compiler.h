/* SPDX-License-Identifier: GPL-2.0 */
/* What kmod-src/include/ksplice-patch.h needs of <linux/compiler.h>. */
#include "../kernel.h"
#ifndef __used
#define __used		__attribute__((__used__))
#endif
#ifndef __UNIQUE_ID
#define ___PASTE(a, b)	a##b
#define __PASTE(a, b)	___PASTE(a, b)
#define __UNIQUE_ID(prefix) __PASTE(__PASTE(__UNIQUE_ID_, prefix), __COUNTER__)
#endif
