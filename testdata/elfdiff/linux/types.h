/* SPDX-License-Identifier: GPL-2.0 */
/* What kmod-src/include/ksplice-patch.h needs of <linux/types.h>. */
#include "../kernel.h"
typedef unsigned int gfp_t;
