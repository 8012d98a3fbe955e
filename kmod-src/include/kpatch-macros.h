/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kpatch-macros.h - kpatch's patch-author macros, for ksplice create.
 *
 * Written for ksplice from the behaviour kpatch documents for its macros
 * (its patch author guide), so that patches written for kpatch-build build
 * unchanged: each macro is mapped to ksplice's own (ksplice-patch.h).
 *
 *   KPATCH_LOAD_HOOK(fn)	void fn(void), run once the update is applied
 *   KPATCH_UNLOAD_HOOK(fn)	void fn(void), run before it is undone
 *   KPATCH_PRE_PATCH_CALLBACK(fn)	int fn(patch_object *), before apply;
 *				non-zero refuses the apply
 *   KPATCH_POST_PATCH_CALLBACK(fn)	void fn(patch_object *), after apply
 *   KPATCH_PRE_UNPATCH_CALLBACK(fn)	void fn(patch_object *), before undo
 *   KPATCH_POST_UNPATCH_CALLBACK(fn)	void fn(patch_object *), after undo
 *
 * The callbacks get a NULL patch_object: ksplice updates have no
 * klp_object. KPATCH_IGNORE_FUNCTION, KPATCH_IGNORE_SECTION,
 * KPATCH_FORCE_UNSAFE and KPATCH_PRINTK as kpatch documents them; the
 * klp_shadow_*() functions are ksplice's shadow variables.
 */
#ifndef _KPATCH_MACROS_H
#define _KPATCH_MACROS_H

#include <linux/printk.h>
#include "ksplice-patch.h"

struct klp_object;
#define patch_object struct klp_object

/* The types kpatch gives its callbacks. */
typedef int (*kpatch_pre_patch_t)(patch_object *obj);
typedef void (*kpatch_patch_t)(patch_object *obj);

#define KPATCH_LOAD_HOOK(fn)	__KSPLICE_HOOK(load, ksplice_hook_void_t, fn)
#define KPATCH_UNLOAD_HOOK(fn)	__KSPLICE_HOOK(unload, ksplice_hook_void_t, fn)

#define KPATCH_PRE_PATCH_CALLBACK(fn)					\
	__KSPLICE_HOOK(pre_patch, kpatch_pre_patch_t, fn)
#define KPATCH_POST_PATCH_CALLBACK(fn)					\
	__KSPLICE_HOOK(post_patch, kpatch_patch_t, fn)
#define KPATCH_PRE_UNPATCH_CALLBACK(fn)					\
	__KSPLICE_HOOK(pre_unpatch, kpatch_patch_t, fn)
#define KPATCH_POST_UNPATCH_CALLBACK(fn)				\
	__KSPLICE_HOOK(post_unpatch, kpatch_patch_t, fn)

#define KPATCH_IGNORE_FUNCTION(fn)	KSPLICE_IGNORE_FUNCTION(fn)
#define KPATCH_IGNORE_SECTION(name)	KSPLICE_IGNORE_SECTION(name)
#define KPATCH_FORCE_UNSAFE(fn)		KSPLICE_FORCE_UNSAFE(fn)

/* To the kernel log, as printk() does (fmt may start with KERN_<LEVEL>). */
#define KPATCH_PRINTK(fmt, ...)	_printk(fmt, ##__VA_ARGS__)

/* livepatch's shadow variable API, on ksplice's. */
#define klp_shadow_ctor_t	ksplice_shadow_ctor_t
#define klp_shadow_dtor_t	ksplice_shadow_dtor_t
#define klp_shadow_get		ksplice_shadow_get
#define klp_shadow_alloc	ksplice_shadow_alloc
#define klp_shadow_get_or_alloc	ksplice_shadow_get_or_alloc
#define klp_shadow_free		ksplice_shadow_free
#define klp_shadow_free_all	ksplice_shadow_free_all

#endif /* _KPATCH_MACROS_H */
