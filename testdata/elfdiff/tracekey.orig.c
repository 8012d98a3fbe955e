// SPDX-License-Identifier: GPL-2.0
/*
 * A tracepoint and a static branch on keys of the running kernel that are
 * not exported, in a changed function (issue 13, point 3). trace_demo()
 * tests the tracepoint's key (__tracepoint_demo.key: symbol + 8) and calls
 * its static call trampoline __SCT__tp_func_demo, as x86-64's 6.1 does;
 * demo_enabled is a static key of the file, which demo_switch()'s code
 * addresses (the update binds it through that function), demo_global a
 * global one (bound by name, or through demo_switch() on arm64, whose
 * kallsyms has no data). The patch
 * changes traced() only; its old code calls the trampoline too, which
 * run-pre matching deduces nothing from (point 12).
 */
#include "kernel.h"

struct tracepoint { const char *name; struct static_key key; void *funcs; };
extern struct tracepoint __tracepoint_demo;
extern void __SCT__tp_func_demo(void *data, int x);
static struct static_key demo_enabled;
struct static_key demo_global;

static inline __attribute__((always_inline)) void trace_demo(int x)
{
	if (static_key_false(&__tracepoint_demo.key))
		__SCT__tp_func_demo(__tracepoint_demo.funcs, x);
}

int traced(int x)
{
	trace_demo(x);
	if (static_key_false(&demo_enabled))
		x++;
	if (static_key_false(&demo_global))
		x--;
	return x + 1;
}

void demo_switch(struct static_key *k, int on)
{
	if (k == &demo_enabled)
		demo_enabled.enabled = on;
	if (k == &demo_global)
		demo_global.enabled = on;
}
