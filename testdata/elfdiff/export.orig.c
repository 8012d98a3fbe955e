// SPDX-License-Identifier: GPL-2.0
/*
 * The patch exports a function that was not exported (and drops the export
 * of another): the running kernel's export table cannot change, so it is
 * refused as export-changed, naming the symbol, not as an unknown section.
 */
#include "kernel.h"

int shown(int x)
{
	return x + 1;
}
EXPORT_SYMBOL(shown);

int hidden(int x)
{
	return x * 3;
}
