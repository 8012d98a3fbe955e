/* SPDX-License-Identifier: GPL-2.0 */
/* The kernel's printk header, for kpatch-macros.h: _printk is in kernel.h. */
#include "../kernel.h"
