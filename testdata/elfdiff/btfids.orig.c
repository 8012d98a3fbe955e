// SPDX-License-Identifier: GPL-2.0
/*
 * BTF_ID() (include/linux/btf_ids.h) names each .BTF_ids slot it emits
 * __BTF_ID__<kind>__<name>__ followed by __COUNTER__ and __LINE__ pasted
 * together: a line added above moves every slot's name
 * (__BTF_ID__struct__shtab__116 -> __BTF_ID__struct__shtab__117) although
 * no slot changed. The map ops table that points at a slot is unchanged;
 * map_alloc(), whose check the patch adds, is carried, and so is
 * map_type_id(), which reads a slot: the update must name that slot as the
 * running kernel does, by its pre-patch name.
 */
#include "kernel.h"

#define ____BTF_ID(symbol) \
	asm(".pushsection .BTF_ids,\"a\";\n"	\
	    ".local " #symbol " ;\n"		\
	    ".type  " #symbol ", STT_OBJECT;\n"	\
	    ".size  " #symbol ", 4;\n"		\
	    #symbol ":\n"			\
	    ".zero 4\n"				\
	    ".popsection;\n");
#define __BTF_ID(symbol) ____BTF_ID(symbol)
#define __ID(prefix) __PASTE(__PASTE(prefix, __COUNTER__), __LINE__)
#define BTF_ID(prefix, name) __BTF_ID(__ID(__BTF_ID__##prefix##__##name##__))
#define BTF_ID_LIST(name)					\
	asm(".pushsection .BTF_ids,\"a\";\n"			\
	    ".local " #name ";\n"				\
	    #name ":;\n"					\
	    ".popsection;\n");					\
	extern unsigned int name[];
#define BTF_ID_LIST_SINGLE(name, prefix, typename)	\
	BTF_ID_LIST(name)				\
	BTF_ID(prefix, typename)

struct map_ops {
	long (*alloc)(long n);
	unsigned int *btf_id;
};

long map_alloc(long n)
{
	if (n == 0)
		return -22;
	return n * 8;
}

BTF_ID_LIST_SINGLE(stab_btf_ids, struct, stab)
BTF_ID_LIST_SINGLE(shtab_btf_ids, struct, shtab)

const struct map_ops stab_ops = {
	.alloc = map_alloc,
	.btf_id = &stab_btf_ids[0],
};

const struct map_ops shtab_ops = {
	.alloc = map_alloc,
	.btf_id = &shtab_btf_ids[0],
};

unsigned int map_type_id(int shift)
{
	return shtab_btf_ids[0] << shift;
}
