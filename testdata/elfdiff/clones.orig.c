// SPDX-License-Identifier: GPL-2.0
/*
 * Compiler clones: .constprop, .isra, .part and .cold. The patch
 * changes use1() and leaves compute() with a single caller, which gcc then
 * specializes: compute is removed, compute.constprop.0 is new and use2()
 * changed. check()'s .cold part is a child of check(): when check() changes,
 * both are carried.
 */
#include "kernel.h"

struct pair {
	int a, b, c, d;
};

static noinline int compute(int mode, int v)
{
	int i, r = v;

	for (i = 0; i < mode + 3; i++)
		r = r * 31 + mode;
	return r;
}

int use1(int v)
{
	return compute(1, v);
}

int use2(int v)
{
	return compute(2, v) + compute(2, v + 1);
}

static noinline int sum(struct pair *p)
{
	return p->a + p->d;
}

int use_sum(int x)
{
	struct pair p = { x, 2, 3, x + 4 };

	barrier();
	return sum(&p);
}

extern void __cold report(const char *fmt, ...);
extern int work(int v);

int check(int v, int *p)
{
	int i, s = 0;

	for (i = 0; i < v; i++) {
		if (unlikely(p[i] < 0)) {
			report("negative value %d at %d\n", p[i], i);
			s -= work(i) * 3;
			continue;
		}
		s += work(p[i]);
	}
	return s;
}

extern int slow_path(int *p, int n);

static int lookup(int *p, int n)
{
	if (likely(!p))
		return 0;
	return slow_path(p, n) + slow_path(p + 1, n) * slow_path(p + 2, n) +
	       slow_path(p + 3, n) * n + slow_path(p + 4, n + 1) + n * n * 7;
}

int lookup_a(int *p)
{
	return lookup(p, 3);
}

int lookup_b(int *p, int n)
{
	return lookup(p, n) + lookup(p + 1, n);
}
