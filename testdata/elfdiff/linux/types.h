/* SPDX-License-Identifier: GPL-2.0 */
/* The part of the kernel's types header that ksplice-patch.h uses. */
#include "../kernel.h"
#define gfp_t unsigned int
