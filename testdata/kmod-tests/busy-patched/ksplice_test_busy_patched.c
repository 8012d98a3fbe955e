// SPDX-License-Identifier: GPL-2.0
#include "../busy/ksplice_test_busy.c"
