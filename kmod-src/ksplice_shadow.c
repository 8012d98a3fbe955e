// SPDX-License-Identifier: GPL-2.0
/*
 * ksplice_shadow.c - shadow variables for update modules.
 *
 * A fix that needs a new field in an existing structure cannot change the
 * structure: every instance already in memory has the old layout. It
 * attaches the field to the instance instead: a shadow variable, found by
 * the address of the object it shadows and an id the author picks.
 *
 * Lookups walk an RCU hash chain; allocation and removal take a spinlock,
 * so that all of them may run in any context the caller's gfp allows. A
 * shadow variable belongs to the module whose code allocated it (found
 * from the caller's address): when that module's update is reversed, or
 * the module unregisters, the engine frees what is left of its variables,
 * since its code can no longer run to use them.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/hashtable.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include "ksplice_internal.h"
#include "include/ksplice-patch.h"

#define KSPLICE_SHADOW_HASH_BITS	12

struct ksplice_shadow {
	struct hlist_node node;		/* in ksplice_shadow_hash */
	struct rcu_head rcu;
	void *obj;
	unsigned long id;
	struct module *owner;		/* allocated by its code; may be NULL */
	char data[];
};

/*
 * ksplice_shadow_lock serialises changes of ksplice_shadow_hash (add,
 * remove) and the constructors and destructors that run with them;
 * lookups only hold rcu_read_lock() and pair with hash_add_rcu() and
 * hash_del_rcu() below.
 */
static DEFINE_HASHTABLE(ksplice_shadow_hash, KSPLICE_SHADOW_HASH_BITS);
static DEFINE_SPINLOCK(ksplice_shadow_lock);

/* Shadow variables allocated and not yet freed: the "shadow_live" param. */
static atomic_t ksplice_shadow_live = ATOMIC_INIT(0);

/* __module_address(), not exported: found in kallsyms at load time. */
static struct module *(*ksplice_module_address)(unsigned long addr);

static int ksplice_shadow_live_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%d\n", atomic_read(&ksplice_shadow_live));
}

static const struct kernel_param_ops ksplice_shadow_live_ops = {
	.get = ksplice_shadow_live_get,
};

/* /sys/module/ksplice/parameters/shadow_live */
module_param_cb(shadow_live, &ksplice_shadow_live_ops, NULL, 0444);
MODULE_PARM_DESC(shadow_live, "shadow variables allocated and not freed");

static bool ksplice_shadow_match(struct ksplice_shadow *s, void *obj,
				 unsigned long id)
{
	return s->obj == obj && s->id == id;
}

/* Caller holds rcu_read_lock() or ksplice_shadow_lock. */
static struct ksplice_shadow *ksplice_shadow_find(void *obj, unsigned long id)
{
	struct ksplice_shadow *s;

	hash_for_each_possible_rcu(ksplice_shadow_hash, s, node,
				   (unsigned long)obj) {
		if (ksplice_shadow_match(s, obj, id))
			return s;
	}
	return NULL;
}

void *ksplice_shadow_get(void *obj, unsigned long id)
{
	struct ksplice_shadow *s;
	void *data = NULL;

	rcu_read_lock();
	s = ksplice_shadow_find(obj, id);
	if (s)
		data = s->data;
	rcu_read_unlock();
	return data;
}
EXPORT_SYMBOL_GPL(ksplice_shadow_get);

static struct module *ksplice_shadow_owner(unsigned long caller)
{
	struct module *mod = NULL;

	if (ksplice_module_address) {
		preempt_disable();
		mod = ksplice_module_address(caller);
		preempt_enable();
	}
	return mod;
}

static void *ksplice_shadow_add(void *obj, unsigned long id, size_t size,
				gfp_t gfp, ksplice_shadow_ctor_t ctor,
				void *ctor_data, bool warn_exist,
				unsigned long caller)
{
	struct ksplice_shadow *new, *s;
	unsigned long flags;
	int ret;

	rcu_read_lock();
	s = ksplice_shadow_find(obj, id);
	rcu_read_unlock();
	if (s)
		goto exists;

	/* Allocated outside the lock: gfp may sleep. */
	new = kzalloc(struct_size(new, data, size), gfp);
	if (!new)
		return NULL;
	new->obj = obj;
	new->id = id;
	new->owner = ksplice_shadow_owner(caller);

	spin_lock_irqsave(&ksplice_shadow_lock, flags);
	s = ksplice_shadow_find(obj, id);
	if (s) {
		/* Another CPU added it meanwhile. */
		spin_unlock_irqrestore(&ksplice_shadow_lock, flags);
		kfree(new);
		goto exists;
	}
	if (ctor) {
		ret = ctor(obj, new->data, ctor_data);
		if (ret) {
			spin_unlock_irqrestore(&ksplice_shadow_lock, flags);
			pr_err("shadow <%p, %lx>: constructor returned %d\n",
			       obj, id, ret);
			kfree(new);
			return NULL;
		}
	}
	/* Pairs with the lookups' rcu_read_lock(). */
	hash_add_rcu(ksplice_shadow_hash, &new->node, (unsigned long)obj);
	atomic_inc(&ksplice_shadow_live);
	spin_unlock_irqrestore(&ksplice_shadow_lock, flags);
	return new->data;

exists:
	if (warn_exist) {
		WARN(1, "ksplice: shadow <%p, %lx> already exists\n", obj, id);
		return NULL;
	}
	return s->data;
}

void *ksplice_shadow_alloc(void *obj, unsigned long id, size_t size,
			   gfp_t gfp, ksplice_shadow_ctor_t ctor,
			   void *ctor_data)
{
	return ksplice_shadow_add(obj, id, size, gfp, ctor, ctor_data, true,
				  _RET_IP_);
}
EXPORT_SYMBOL_GPL(ksplice_shadow_alloc);

void *ksplice_shadow_get_or_alloc(void *obj, unsigned long id, size_t size,
				  gfp_t gfp, ksplice_shadow_ctor_t ctor,
				  void *ctor_data)
{
	return ksplice_shadow_add(obj, id, size, gfp, ctor, ctor_data, false,
				  _RET_IP_);
}
EXPORT_SYMBOL_GPL(ksplice_shadow_get_or_alloc);

/* Caller holds ksplice_shadow_lock. */
static void ksplice_shadow_del(struct ksplice_shadow *s,
			       ksplice_shadow_dtor_t dtor)
{
	/* Pairs with the lookups' rcu_read_lock(): freed after them. */
	hash_del_rcu(&s->node);
	if (dtor)
		dtor(s->obj, s->data);
	kfree_rcu(s, rcu);
	atomic_dec(&ksplice_shadow_live);
}

void ksplice_shadow_free(void *obj, unsigned long id,
			 ksplice_shadow_dtor_t dtor)
{
	struct ksplice_shadow *s;
	unsigned long flags;

	spin_lock_irqsave(&ksplice_shadow_lock, flags);
	s = ksplice_shadow_find(obj, id);
	if (s)
		ksplice_shadow_del(s, dtor);
	spin_unlock_irqrestore(&ksplice_shadow_lock, flags);
}
EXPORT_SYMBOL_GPL(ksplice_shadow_free);

void ksplice_shadow_free_all(unsigned long id, ksplice_shadow_dtor_t dtor)
{
	struct ksplice_shadow *s;
	struct hlist_node *tmp;
	unsigned long flags;
	int bkt;

	spin_lock_irqsave(&ksplice_shadow_lock, flags);
	hash_for_each_safe(ksplice_shadow_hash, bkt, tmp, s, node) {
		if (s->id == id)
			ksplice_shadow_del(s, dtor);
	}
	spin_unlock_irqrestore(&ksplice_shadow_lock, flags);
}
EXPORT_SYMBOL_GPL(ksplice_shadow_free_all);

/*
 * ksplice_shadow_release - free the shadow variables @mod's code allocated
 *
 * Called once @mod's update is reversed (its code can no longer run: the
 * stack check of reverse saw no task inside it) and when it unregisters.
 * Destructors are not known here: an author whose variables hold other
 * resources frees them from a reverse hook with ksplice_shadow_free_all().
 */
void ksplice_shadow_release(struct module *mod, const char *id)
{
	struct ksplice_shadow *s;
	struct hlist_node *tmp;
	unsigned long flags;
	unsigned int n = 0;
	int bkt;

	if (!mod)
		return;
	spin_lock_irqsave(&ksplice_shadow_lock, flags);
	hash_for_each_safe(ksplice_shadow_hash, bkt, tmp, s, node) {
		if (s->owner == mod) {
			ksplice_shadow_del(s, NULL);
			n++;
		}
	}
	spin_unlock_irqrestore(&ksplice_shadow_lock, flags);
	if (n)
		pr_info("%s: freed %u shadow variables, %d live\n", id, n,
			atomic_read(&ksplice_shadow_live));
}

void ksplice_shadow_init(void)
{
	ksplice_module_address = (void *)ksplice_lookup_name("__module_address");
	if (!ksplice_module_address)
		pr_warn("no __module_address: shadow variables are not freed on reverse\n");
}

/*
 * Module exit: every update module is gone (they depend on the engine),
 * and each released its variables when it unregistered; this frees any
 * left by code outside update modules.
 */
void ksplice_shadow_exit(void)
{
	struct ksplice_shadow *s;
	struct hlist_node *tmp;
	int bkt;

	spin_lock_irq(&ksplice_shadow_lock);
	hash_for_each_safe(ksplice_shadow_hash, bkt, tmp, s, node)
		ksplice_shadow_del(s, NULL);
	spin_unlock_irq(&ksplice_shadow_lock);
}
