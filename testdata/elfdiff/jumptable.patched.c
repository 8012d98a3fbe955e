// SPDX-License-Identifier: GPL-2.0
/*
 * A switch dense enough for a jump table: the table is anonymous data of
 * the object (.rodata.dispatch, no symbol), which the update must carry as
 * a copy: the running kernel has no name for it. The patch changes one case.
 */
#include "kernel.h"

int g(int y, int k);

int dispatch(int x, int y)
{
	switch (x) {
	case 0: return g(y, 3);
	case 1: return g(y, 10);
	case 2: return g(y, 17);
	case 3: return g(y, 24);
	case 4: return g(y, 31);
	case 5: return g(y + 1, 38);
	case 6: return g(y, 45);
	case 7: return g(y, 52);
	case 8: return g(y, 59);
	case 9: return g(y, 66);
	case 10: return g(y, 73);
	case 11: return g(y, 80);
	default:
		return 0;
	}
}
