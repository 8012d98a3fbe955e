// SPDX-License-Identifier: GPL-2.0
/*
 * Special sections: both functions have an entry in every special section
 * the kernel's macros emit; the patch changes changed()'s body only, so
 * exactly changed()'s entries go with it and same()'s stay behind.
 */
#include "kernel.h"

struct static_key key_a;
struct static_call_key sc_key;
int shared;

int changed(int *p, int x)
{
	int v = 0;

	WARN_ON(x < 0);
	if (get_user_int(&v, p))
		return -14;
	if (static_key_false(&key_a))
		v++;
	alternative_barrier();
	static_call_site_mark(&sc_key);
	site_mark(".retpoline_sites");
	site_mark(".return_sites");
	site_mark(".call_sites");
	orc_mark();
	paravirt_mark();
	atomic_inc(&shared);
	pr_info_indexed("changed %d\n", v);
	return v + x;
}

int same(int *p, int x)
{
	int v = 0;

	WARN_ON(x > 0);
	if (get_user_int(&v, p))
		return -14;
	if (static_key_false(&key_a))
		v--;
	alternative_barrier();
	static_call_site_mark(&sc_key);
	site_mark(".retpoline_sites");
	site_mark(".return_sites");
	site_mark(".call_sites");
	orc_mark();
	paravirt_mark();
	atomic_inc(&shared);
	pr_info_indexed("same %d\n", v);
	return v - x;
}
