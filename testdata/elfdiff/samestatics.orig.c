// SPDX-License-Identifier: GPL-2.0
/*
 * Same-named statics of one function: two once-flags of WARN_ONCE()
 * (__warned.N) and two "limit" counters with different initial values
 * (lockdep's __key.N and dynamic debug's descriptor.N are the same shape).
 * The patch adds first(), with statics of the same names, before them:
 * the compiler renumbers them all, and guarded()'s must pair by their order
 * of use in guarded(), not by their numbers.
 */
#include "kernel.h"

int guarded(int x)
{
	WARN_ONCE(x > 100, "too big %d\n", x);
	if (x > 10) {
		static int limit = 1;

		x += limit++;
	}
	if (x < 0) {
		static int limit = 2;

		x -= limit--;
	}
	WARN_ONCE(x < -100, "too small %d\n", x);
	return x;
}
