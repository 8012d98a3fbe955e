// SPDX-License-Identifier: GPL-2.0
/*
 * Names made by the kernel's __UNIQUE_ID() end in __COUNTER__: the patch
 * adds a record_tagged() to added(), before tagged()'s, which renumbers
 * tagged()'s tag (__UNIQUE_ID_tag0 -> __UNIQUE_ID_tag1). tagged() is
 * unchanged; added() is carried with its new tag.
 */
#include "kernel.h"

extern void record(const char *tag, int v);

#define __record_tagged(id, str, v) do {				\
	static const char id[] = str;					\
	record(id, v);							\
} while (0)
#define record_tagged(str, v) __record_tagged(__UNIQUE_ID(tag), str, v)

int added(int x)
{
	record_tagged("added", x);
	return x + 1;
}

int tagged(int x)
{
	record_tagged("tagged", x);
	return x;
}
