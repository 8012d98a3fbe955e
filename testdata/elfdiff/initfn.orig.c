// SPDX-License-Identifier: GPL-2.0
/* __init and __exit code: changes to either are refused. */
#include "kernel.h"

extern int register_thing(int v);
extern void unregister_thing(int v);

static int __init thing_init(void)
{
	return register_thing(1);
}

static void __exit thing_exit(void)
{
	unregister_thing(1);
}

int thing_user(void)
{
	return register_thing(7);
}

void *thing_hooks[] = { thing_init, thing_exit };
