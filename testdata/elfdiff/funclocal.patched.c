// SPDX-License-Identifier: GPL-2.0
/*
 * Read-only statics of a function (__func__ here) have hundreds of
 * namesakes in a kernel (__func__.1). The patch adds a site record t that
 * points to work()'s __func__, which no old code refers to directly (only
 * the record s does): the update must carry a copy of the string rather
 * than ask the engine to find "__func__.N" by name.
 */
#include "kernel.h"

struct site {
	const char *func;
	int hits;
};

void record(struct site *s);

int work(int x)
{
	static struct site s = { __func__, 0 };
	static struct site t = { __func__, 1 };

	record(&s);
	record(&t);
	return x + 2;
}
