// SPDX-License-Identifier: GPL-2.0
/*
 * Data: limit's initializer changes (refused: the running kernel's copy
 * holds state), weights[] is read-only and changes with its only user
 * weigh() (carried with it), and primes[] changes under unchanged code
 * (refused).
 */
#include "kernel.h"

static int limit = 10;
static const int weights[] = { 1, 2, 4, 8 };
static const int primes[] = { 2, 3, 5, 7 };

int over(int x)
{
	return x > limit;
}

void set_limit(int v)
{
	limit = v;
}

int weigh(int i)
{
	return weights[i & 3] * 3;
}

int prime(int i)
{
	return primes[i & 3];
}
