// SPDX-License-Identifier: GPL-2.0
/*
 * A fix that changes a function and exports it, and drops the export of
 * another (a release's export changes: 6.1.190's drivers/base/core.c,
 * drivers/mailbox/pcc.c): the changes of exports are refused as
 * export-changed, the changed function is carried where create keeps the
 * running kernel's exports (--keep-exports).
 */
#include "kernel.h"

int probe_warn(int err)
{
	return err < 0 ? err : err + 2;
}
EXPORT_SYMBOL(probe_warn);

int mbox_map(int x)
{
	return x * 3;
}
