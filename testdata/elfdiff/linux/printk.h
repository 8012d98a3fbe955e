/* SPDX-License-Identifier: GPL-2.0 */
/* <linux/printk.h>, for kmod-src/include/kpatch-macros.h. */
#include "../kernel.h"
