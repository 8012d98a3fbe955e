// SPDX-License-Identifier: GPL-2.0
/* UBSAN records the real file name, not __FILE__: both halves are ubsan.c. */
#line 4 "ubsan.c"
/*
 * Built with UBSAN's shift and bounds checks: each check passes the handler
 * its data (.data..Lubsan_dataN), which starts with the file, line and
 * column of the check, and type descriptors (.data..Lubsan_typeN). The
 * patch adds lines before all of them and a check to added(): numbers,
 * lines and columns move (noise for shifted() and indexed()), and
 * widened() has a real change.
 */
#include "kernel.h"

/* Two lines added by the patch. */

int added(int a)
{
	return (a + 1) << a;
}

int shifted(int a, int b)
{
	return a << b;
}

int indexed(int i)
{
	int t[4] = { 1, 2, 3, 5 };

	return t[i];
}

long widened(long a, int b)
{
	return a << (b & 31);
}
