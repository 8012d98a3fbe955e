// SPDX-License-Identifier: GPL-2.0
/*
 * The patch, written with kpatch's author macros (and ksplice's): hooks
 * carried as new code and named in .ksplice.hooks.*; noisy changed but
 * ignored (KPATCH_IGNORE_FUNCTION); skipped changed, its section ignored;
 * report asked to be patched without a stack check (not honoured).
 */
#include "kernel.h"
#include "../../kmod-src/include/kpatch-macros.h"

int counter;

noinline int report(int x)
{
	return x + counter + 1;
}
KPATCH_FORCE_UNSAFE(report);

noinline int noisy(int x)
{
	return x * 5 + counter;
}
KPATCH_IGNORE_FUNCTION(noisy);

noinline int skipped(int x)
{
	return x - counter - 2;
}
KPATCH_IGNORE_SECTION(".text.skipped");

static void on_load(void)
{
	counter = 7;
}
KPATCH_LOAD_HOOK(on_load);

static int before(patch_object *obj)
{
	return counter ? 0 : -1;
}
KPATCH_PRE_PATCH_CALLBACK(before);

static int check(void)
{
	return counter > 100;
}
KSPLICE_PRE_APPLY(check);
