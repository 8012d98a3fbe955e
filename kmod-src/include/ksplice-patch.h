/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksplice-patch.h - what a patch author may use in the patched source.
 *
 * ksplice create puts this directory on the include path of the objects it
 * builds before and after the patch, so a patch may add
 *
 *	#include "ksplice-patch.h"
 *
 * to the file it changes. Nothing here changes the code of the functions
 * around it: the macros only record, in sections of the object that the
 * kernel never links, which functions are hooks and which changes are to
 * be left out. ksplice create reads those sections and builds them into
 * the update module; the hook functions themselves are carried as new
 * code. See README.md, "Writing patches".
 */
#ifndef _KSPLICE_PATCH_H
#define _KSPLICE_PATCH_H

#include <linux/compiler.h>
#include <linux/types.h>

/*
 * Shadow variables: data attached to an existing object (a task, a
 * socket) by its address and an id the author picks, for the fields a fix
 * would add to a structure that cannot change in memory. Lookups are
 * RCU-safe; the constructor and destructor run under a spinlock with
 * interrupts off and must not sleep. The engine frees the variables an
 * update's code allocated once the update is undone; destructors do not
 * run then (free such variables from a reverse hook).
 */
typedef int (*ksplice_shadow_ctor_t)(void *obj, void *shadow_data,
				     void *ctor_data);
typedef void (*ksplice_shadow_dtor_t)(void *obj, void *shadow_data);

/* The data of <obj, id>, or NULL. */
void *ksplice_shadow_get(void *obj, unsigned long id);
/*
 * A new, zeroed <obj, id> of size bytes, then passed to ctor (if not NULL)
 * with ctor_data; NULL if it exists already (with a warning), if memory
 * runs out or if ctor returns non-zero.
 */
void *ksplice_shadow_alloc(void *obj, unsigned long id, size_t size,
			   gfp_t gfp_flags, ksplice_shadow_ctor_t ctor,
			   void *ctor_data);
/* As ksplice_shadow_alloc(), but returns <obj, id> if it exists. */
void *ksplice_shadow_get_or_alloc(void *obj, unsigned long id, size_t size,
				  gfp_t gfp_flags, ksplice_shadow_ctor_t ctor,
				  void *ctor_data);
/* Frees <obj, id>, calling dtor (if not NULL) on it first. */
void ksplice_shadow_free(void *obj, unsigned long id,
			 ksplice_shadow_dtor_t dtor);
/* Frees every variable of that id, whatever its object. */
void ksplice_shadow_free_all(unsigned long id, ksplice_shadow_dtor_t dtor);

/*
 * Hooks, as with ksplice create --hooks FILE.c (docs/kernel-interface.md,
 * "Author hooks"), but declared in the patched source:
 *
 *	static int check(void) { ... }
 *	KSPLICE_PRE_APPLY(check);
 *
 * pre_apply and pre_reverse return 0 to go on, anything else to refuse;
 * post_apply and post_reverse cannot fail. Several hooks of one kind run in
 * the order create met them. A hook of the wrong type draws the compiler's
 * "pointer type mismatch" warning.
 */
#define __KSPLICE_HOOK(kind, type, fn)					\
	static void *__ksplice_hook_##kind##_##fn			\
	__used __section(".ksplice.hooks." #kind) =			\
	(void *)(0 ? (type)NULL : (fn))

typedef int (*ksplice_hook_int_t)(void);
typedef void (*ksplice_hook_void_t)(void);

#define KSPLICE_PRE_APPLY(fn)	__KSPLICE_HOOK(pre_apply, ksplice_hook_int_t, fn)
#define KSPLICE_POST_APPLY(fn)	__KSPLICE_HOOK(post_apply, ksplice_hook_void_t, fn)
#define KSPLICE_PRE_REVERSE(fn)	__KSPLICE_HOOK(pre_reverse, ksplice_hook_int_t, fn)
#define KSPLICE_POST_REVERSE(fn) __KSPLICE_HOOK(post_reverse, ksplice_hook_void_t, fn)

/*
 * KSPLICE_IGNORE_FUNCTION(fn): leave fn out of the update even if the
 * patch changes it (the running kernel keeps its old fn; carried code
 * that calls fn calls the old one). KSPLICE_IGNORE_SECTION("name"): the
 * same for everything in the object's section of that name.
 */
#define KSPLICE_IGNORE_FUNCTION(fn)					\
	static void *__ksplice_ignore_func_##fn				\
	__used __section(".ksplice.ignore.functions") = (fn)

#define KSPLICE_IGNORE_SECTION(name)					\
	static const char *__UNIQUE_ID(ksplice_ignore_section_)		\
	__used __section(".ksplice.ignore.sections") = (name)

/*
 * KSPLICE_FORCE_UNSAFE(fn): recorded for kpatch's macro of that name.
 * ksplice never skips its stack check: create warns that the request is
 * not honoured, and the update is applied only when no task is in fn.
 */
#define KSPLICE_FORCE_UNSAFE(fn)					\
	static void *__ksplice_force_##fn				\
	__used __section(".ksplice.force") = (fn)

#endif /* _KSPLICE_PATCH_H */
