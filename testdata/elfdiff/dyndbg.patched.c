// SPDX-License-Identifier: GPL-2.0
/*
 * pr_debug() under CONFIG_DYNAMIC_DEBUG: each call site has a descriptor
 * (__UNIQUE_ID_ddebugN in __dyndbg) and a jump label on the descriptor's
 * key. The patch adds a pr_debug() to early(), which renumbers the other
 * descriptors and moves their lines (noise for probe()), and fixes fixed(),
 * which is carried with its descriptor.
 */
#include "kernel.h"

extern int scale_in(int x);

DECLARE_DYNDBG_CLASSMAP(elfdiff_classes, 0, 0, "CORE", "IO");

int early(int x)
{
	x = scale_in(x);
	pr_debug("early %d\n", x);
	return x + 4;
}

int probe(int x)
{
	x = scale_in(x);
	pr_debug("probe %d\n", x);
	return x + 1;
}

int fixed(int x)
{
	x = scale_in(x);
	pr_debug("fixed %d\n", x);
	return x + 1;
}
