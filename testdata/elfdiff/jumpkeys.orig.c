// SPDX-License-Identifier: GPL-2.0
/*
 * Jump labels and static calls whose keys are of every kind at once: an
 * external key, a local key (relocated against its section symbol), an
 * element of a local array (section symbol + addend) and a dynamic debug
 * descriptor's key. Each entry is its own, whatever its key: the patch
 * changes toggled() only, and only toggled()'s entries go with it.
 */
#include "kernel.h"

extern struct static_key ext_key;
static struct static_key local_key;
static struct static_key keys[2];
extern struct static_call_key __SCK__ext_call;
static struct static_call_key local_call;
extern int scale_in(int x);

int toggled(int x)
{
	x = scale_in(x);
	if (static_key_false(&ext_key))
		x++;
	if (static_key_false(&local_key))
		x += 2;
	static_call_site_mark(&__SCK__ext_call);
	pr_debug("toggled %d\n", x);
	return x * 2;
}

int steady(int x)
{
	x = scale_in(x);
	if (static_key_false(&keys[1]))
		x--;
	static_call_site_mark(&local_call);
	if (static_key_false(&ext_key))
		x -= 2;
	static_call_site_mark(&__SCK__ext_call);
	return x;
}

void touch(void)
{
	local_key.enabled++;
	keys[0].enabled++;
	local_call.func = NULL;
}
