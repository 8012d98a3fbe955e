// SPDX-License-Identifier: GPL-2.0
#include "../target/ksplice_test_safety.c"
