// SPDX-License-Identifier: GPL-2.0
/*
 * A file whose functions reach its statics the way the kernel's own build
 * compiles them: without -fdata-sections, gcc on arm64 addresses the
 * statics of one section from a shared section anchor (.bss+A, then an
 * offset), so the old code names whichever object lies at the anchor, not
 * the static the new code uses; calls to a static function of the same
 * .text are resolved by the assembler, with no relocation. Built as
 * anchors.running.o with the kernel's own flags (see Makefile). misses is a
 * global the object defines: it binds the same way (arm64's kallsyms has
 * no data symbols).
 */
#include "kernel.h"

static int hits;
static long hashbits = 4;
static void *table[16];
int misses;
static const int weights[8] = { 1, 2, 3, 5, 8, 13, 21, 34 };

static noinline int bucket(int key)
{
	return (unsigned int)(key * 2654435761u) >> (32 - hashbits);
}

int lookup(int key)
{
	int b = bucket(key);

	hits += 2;
	if (!table[b & 15]) {
		misses += hashbits;
		return -1;
	}
	return weights[b & 7];
}

void resize(int bits)
{
	hashbits = bits;
}

void set(int key, void *p)
{
	table[bucket(key) & 15] = p;
}

int count(void)
{
	return hits + misses + hashbits;
}

int sum(int n)
{
	int s = 0;

	for (int i = 0; i < n; i++)
		s += weights[i & 7] * i;
	return s;
}
