// SPDX-License-Identifier: GPL-2.0
/*
 * Data: limit's initializer changes (refused: the running kernel's copy
 * holds state), weights[] is read-only and changes with its only user
 * weigh() (carried with it), and primes[] changes under unchanged code
 * (refused).
 */
#include "kernel.h"

static int limit = 20;
static const int weights[] = { 1, 3, 9, 27 };
static const int primes[] = { 2, 3, 5, 11 };

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
	return weights[i & 3] * 5;
}

int prime(int i)
{
	return primes[i & 3];
}
