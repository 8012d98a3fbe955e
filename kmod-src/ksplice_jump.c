// SPDX-License-Identifier: GPL-2.0
/*
 * ksplice_jump.c - jump labels of new code on the running kernel's keys
 *
 * New code keeps its static branches (static_branch_*(), a tracepoint's
 * key, ...): the update module carries their __jump_table entries. The
 * module loader registers a module's jump labels with their keys when the
 * module comes (jump_label_add_module() from the jump_label module
 * notifier, at MODULE_STATE_COMING), which is before the engine could know
 * where a key that is not exported is: that takes kallsyms, or run-pre
 * matching of the old code, at apply time. So the generator keys those
 * entries on a static key of the update module's own, which nothing ever
 * enables (jump_label_add_module() only records the module's entries in a
 * key of the module itself, and leaves the code as compiled), and lists
 * them in struct ksplice_update @keys. When the update is applied, before
 * its code can run, ksplice_jump_bind() writes each real key into its
 * entry (the table is read-only after the module's init: it is made
 * writable meanwhile) and hands the module to the jump_label notifier
 * again: it then links the entries to their keys and sets each branch to
 * its key's state, as it does for any module. A key that is read-only
 * after init is refused: linking writes the key. From then on the kernel keeps the
 * branches in step, and unlinks them when the module goes
 * (MODULE_STATE_GOING).
 *
 * Why not rewrite the entries at MODULE_STATE_COMING, from a notifier of
 * a higher priority than jump_label's: run-pre matching, which binds
 * statics with namesakes through the old code, has not run then, and
 * arm64's kallsyms has no data symbols (no KALLSYMS_ALL in Debian).
 */

#include <linux/jump_label.h>
#include <linux/module.h>
#include <linux/notifier.h>
#include <linux/set_memory.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/tracepoint.h>
#include "ksplice_internal.h"

/* The jump_label module notifier's function (static in jump_label.c). */
static notifier_fn_t ksplice_jump_label_notify;
/*
 * A module's __jump_table is read-only after its init (ro_after_init),
 * and jump_label_add_module() writes it (it sorts the entries, and marks
 * those in init code): the engine makes the table writable around it,
 * as the module loader has it at MODULE_STATE_COMING. Not exported.
 */
static typeof(&set_memory_rw) ksplice_set_memory_rw;
static typeof(&set_memory_ro) ksplice_set_memory_ro;
/* Not exported either: see ksplice_key_writable(). */
static typeof(&copy_to_kernel_nofault) ksplice_copy_to_kernel_nofault;
/* Not exported: see ksplice_jump_pin(). */
static typeof(&__module_address) ksplice_jump_module_address;

/*
 * A module whose key an update module's jump labels are linked to: the
 * kernel frees a module's keys with it, and unlinks the update module's
 * entries only when that one goes (jump_label_del_module() reads each key
 * then). The module loader makes a module that uses an exported key
 * depend on its owner; for a key the engine bound, the engine holds a
 * reference on the owner until the update module is gone. Protected by
 * ksplice_mutex.
 */
struct ksplice_jump_pin {
	struct list_head list;
	struct module *mod;		/* the update module */
	struct module *owner;		/* holds a key, pinned */
};

static LIST_HEAD(ksplice_jump_pins);

void __init ksplice_jump_init(void)
{
	ksplice_jump_label_notify = (notifier_fn_t)
		ksplice_lookup_name("jump_label_module_notify");
	ksplice_set_memory_rw = (void *)ksplice_lookup_name("set_memory_rw");
	ksplice_set_memory_ro = (void *)ksplice_lookup_name("set_memory_ro");
	ksplice_copy_to_kernel_nofault =
		(void *)ksplice_lookup_name("copy_to_kernel_nofault");
	ksplice_jump_module_address =
		(void *)ksplice_lookup_name("__module_address");
}

/*
 * Pin the module that holds @key, if it is not vmlinux or @mod itself, for
 * as long as @mod lives (see struct ksplice_jump_pin). ksplice_mutex held.
 */
static int ksplice_jump_pin(struct module *mod, unsigned long key)
{
	struct ksplice_jump_pin *pin;
	struct module *owner;

	preempt_disable();
	owner = ksplice_jump_module_address(key);
	if (owner && owner != mod && !try_module_get(owner))
		owner = ERR_PTR(-ENOENT);
	preempt_enable();
	if (IS_ERR(owner))
		return PTR_ERR(owner);
	if (!owner || owner == mod)
		return 0;
	list_for_each_entry(pin, &ksplice_jump_pins, list) {
		if (pin->mod == mod && pin->owner == owner) {
			module_put(owner);
			return 0;
		}
	}
	pin = kzalloc(sizeof(*pin), GFP_KERNEL);
	if (!pin) {
		module_put(owner);
		return -ENOMEM;
	}
	pin->mod = mod;
	pin->owner = owner;
	list_add(&pin->list, &ksplice_jump_pins);
	return 0;
}

/**
 * ksplice_jump_going - @mod is going: release what its keys pinned
 *
 * From the engine's module notifier at MODULE_STATE_GOING, which runs after
 * jump_label's (priority 1) has unlinked @mod's jump labels from their
 * keys. ksplice_mutex held.
 */
void ksplice_jump_going(struct module *mod)
{
	struct ksplice_jump_pin *pin, *tmp;

	list_for_each_entry_safe(pin, tmp, &ksplice_jump_pins, list) {
		if (pin->mod != mod)
			continue;
		list_del(&pin->list);
		module_put(pin->owner);
		kfree(pin);
	}
}

/* The entry of @mod's __jump_table whose code is at @code; NULL unless one. */
static struct jump_entry *ksplice_jump_entry(struct module *mod, void *code)
{
	struct jump_entry *e, *found = NULL;
	unsigned int i;

	for (i = 0; i < mod->num_jump_entries; i++) {
		e = &mod->jump_entries[i];
		if (jump_entry_code(e) != (unsigned long)code)
			continue;
		if (found)
			return NULL;
		found = e;
	}
	return found;
}

/**
 * ksplice_jump_check - check @u's keys at registration
 *
 * Each names one jump label of the update module, still keyed on the
 * module's own placeholder, and how to find its key. Returns 0 or -EINVAL.
 */
int ksplice_jump_check(const struct ksplice_update *u)
{
	u32 i;

	if ((u->nr_keys && !u->keys) || u->reserved2)
		return -EINVAL;
	for (i = 0; i < u->nr_keys; i++) {
		const struct ksplice_key *k = &u->keys[i];
		struct jump_entry *e = ksplice_jump_entry(u->mod, k->code);

		if (!k->symbol || !e ||
		    !within_module((unsigned long)jump_entry_key(e), u->mod) ||
		    (k->old_func && ksplice_func_index(u, k->old_func) < 0)) {
			pr_err("update %s: malformed key %u (%s)\n", u->id, i,
			       k->symbol ?: "no name");
			return -EINVAL;
		}
	}
	return 0;
}

struct ksplice_tp_find {
	const char *name;
	struct tracepoint *tp;
	unsigned int n;
};

static void ksplice_tp_find_cb(struct tracepoint *tp, void *priv)
{
	struct ksplice_tp_find *tf = priv;

	if (!strcmp(tp->name, tf->name)) {
		tf->tp = tp;
		tf->n++;
	}
}

/*
 * The tracepoint whose struct is @symbol (__tracepoint_NAME), by its
 * name: in the target module, else in vmlinux. Every kernel can list its
 * tracepoints, with or without data symbols in kallsyms.
 */
static unsigned int ksplice_find_tracepoint(struct ksplice_state *st,
					    const char *symbol,
					    unsigned long *addr)
{
	struct ksplice_tp_find tf = { .name = symbol };

	if (!str_has_prefix(symbol, "__tracepoint_"))
		return 0;
	tf.name += strlen("__tracepoint_");
#ifdef CONFIG_TRACEPOINTS
	if (st->target) {
		unsigned int i;

		for (i = 0; i < st->target->num_tracepoints; i++)
			ksplice_tp_find_cb(tracepoint_ptr_deref(&st->target->tracepoints_ptrs[i]),
					   &tf);
	}
	if (!tf.n)
		for_each_kernel_tracepoint(ksplice_tp_find_cb, &tf);
#endif
	*addr = (unsigned long)tf.tp;
	return tf.n;
}

/* The address of @k's symbol, or 0 with the reason set. */
static unsigned long ksplice_key_symbol(struct ksplice_state *st, u32 i,
					const struct ksplice_key *k)
{
	const struct ksplice_update *u = st->u;
	unsigned long addr;
	unsigned int n;
	u32 j;

	if (k->key)
		return (unsigned long)k->key;
	if (k->old_func) {
		struct ksplice_func_state *fs =
			&st->funcs[ksplice_func_index(u, k->old_func)];

		for (j = 0; j < fs->f->nr_old_relocs; j++)
			if (test_bit(j, fs->known) &&
			    !strcmp(fs->f->old_relocs[j].symbol, k->symbol))
				return fs->values[j];
		ksplice_set_reason(st, KSPLICE_UNRESOLVED,
				   "jump label key %u: the old code of %s does not refer to %s",
				   i, k->old_func->name, k->symbol);
		return 0;
	}
	n = ksplice_count_symbol(st, k->symbol, &addr);
	if (n == 1)
		return addr;
	if (!n && ksplice_find_tracepoint(st, k->symbol, &addr) == 1)
		return addr;
	ksplice_set_reason(st, KSPLICE_UNRESOLVED,
			   "jump label key %u: %u symbols called %s in kallsyms, want one%s",
			   i, n, k->symbol,
			   n ? "" : " (data is in kallsyms only with CONFIG_KALLSYMS_ALL)");
	return 0;
}

/*
 * Whether jump_label_add_module() can link a module's entries to @key: it
 * writes the key's second word (entries, or the list of modules, and the
 * type bits), which faults for a key in .data..ro_after_init
 * (DEFINE_STATIC_KEY_*_RO: 6.1's jump_label has no notion of a sealed
 * key). Writes the word back as it is, under jump_label_lock(), which
 * every writer of that word holds. Returns 0 or -EFAULT.
 */
static int ksplice_key_writable(unsigned long key)
{
	struct static_key *k = (struct static_key *)key;
	unsigned long word;

	if (copy_from_kernel_nofault(&word, &k->type, sizeof(word)))
		return -EFAULT;
	return ksplice_copy_to_kernel_nofault(&k->type, &word, sizeof(word)) ?
		-EFAULT : 0;
}

/**
 * ksplice_jump_bind - key the update's jump labels on the kernel's keys
 * @st:	the update, after run-pre matching; ksplice_mutex held, not
 *	cpus_read_lock(), jump_label_lock() or text_mutex
 *
 * The new code is not reachable yet. Done once: an entry already bound
 * (by an earlier apply) keeps its key. Returns 0 or the reason's errno.
 */
int ksplice_jump_bind(struct ksplice_state *st)
{
	const struct ksplice_update *u = st->u;
	struct jump_entry **entries;
	const char **names;
	unsigned long *values, start;
	unsigned int nr = 0;
	int pages;
	int ret = 0;
	u32 i;

	if (!u->nr_keys)
		return 0;
	entries = kcalloc(u->nr_keys, sizeof(*entries), GFP_KERNEL);
	values = kcalloc(u->nr_keys, sizeof(*values), GFP_KERNEL);
	names = kcalloc(u->nr_keys, sizeof(*names), GFP_KERNEL);
	if (!entries || !values || !names) {
		ksplice_set_reason(st, KSPLICE_NOMEM, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < u->nr_keys; i++) {
		const struct ksplice_key *k = &u->keys[i];
		struct jump_entry *e = ksplice_jump_entry(u->mod, k->code);
		unsigned long sym, key;

		if (!e) {
			ksplice_set_reason(st, KSPLICE_BAD_FORMAT,
					   "jump label key %u (%s): no jump label at %pS",
					   i, k->symbol, k->code);
			ret = -EINVAL;
			goto out;
		}
		if (!within_module((unsigned long)jump_entry_key(e), u->mod))
			continue;	/* bound by an earlier apply */
		sym = ksplice_key_symbol(st, i, k);
		if (!sym) {
			ret = -ENOENT;
			goto out;
		}
		key = sym + k->addend;
		/*
		 * A static key is word aligned: the low bits of the entry's
		 * key field are its flags (the branch, and "in init" that
		 * jump_label_add_module() sets), never part of the address.
		 */
		if (!IS_ALIGNED(key & ~3UL, sizeof(long)) ||
		    within_module(key, u->mod)) {
			ksplice_set_reason(st, KSPLICE_UNRESOLVED,
					   "jump label key %u: %s%+lld is at 0x%lx, not a static key",
					   i, k->symbol, k->addend, key);
			ret = -EINVAL;
			goto out;
		}
		entries[nr] = e;
		names[nr] = k->symbol;
		values[nr++] = key;
	}
	if (!nr)
		goto out;
	if (!ksplice_jump_label_notify || !ksplice_kernel.jump_label_lock ||
	    !ksplice_set_memory_rw || !ksplice_set_memory_ro ||
	    !ksplice_copy_to_kernel_nofault || !ksplice_jump_module_address) {
		ksplice_set_reason(st, KSPLICE_UNRESOLVED,
				   "jump label key: jump_label_module_notify, set_memory_rw/ro, copy_to_kernel_nofault or __module_address not found in kallsyms");
		ret = -ENOENT;
		goto out;
	}
	for (i = 0; i < nr; i++) {
		ret = ksplice_jump_pin(u->mod, values[i] & ~3UL);
		if (ret) {
			ksplice_set_reason(st, KSPLICE_UNRESOLVED,
					   "jump label key %s: its module is going away",
					   names[i]);
			goto out;
		}
	}
	ksplice_kernel.jump_label_lock();
	for (i = 0; i < nr; i++) {
		ret = ksplice_key_writable(values[i] & ~3UL);
		if (ret) {
			ksplice_set_reason(st, KSPLICE_UNRESOLVED,
					   "jump label key %s at %pS is read-only (__ro_after_init): the kernel cannot register a module's jump labels on it",
					   names[i],
					   (void *)(values[i] & ~3UL));
			break;
		}
	}
	ksplice_kernel.jump_label_unlock();
	if (ret)
		goto out;
	start = (unsigned long)u->mod->jump_entries & PAGE_MASK;
	pages = PAGE_ALIGN((unsigned long)(u->mod->jump_entries +
					   u->mod->num_jump_entries)) - start;
	pages >>= PAGE_SHIFT;
	ret = ksplice_set_memory_rw(start, pages);
	if (ret) {
		ksplice_set_reason(st, KSPLICE_UNRESOLVED,
				   "jump label key: cannot make the jump table of %s writable: %d",
				   u->mod->name, ret);
		goto out;
	}
	/*
	 * No key of these entries is enabled, so no static_key_*() call
	 * touches them until they are registered again: the lock orders
	 * these writes with jump label updates of the module's own keys
	 * (dynamic debug's), which read the table.
	 */
	ksplice_kernel.jump_label_lock();
	for (i = 0; i < nr; i++)
		WRITE_ONCE(entries[i]->key,
			   values[i] - (unsigned long)&entries[i]->key);
	ksplice_kernel.jump_label_unlock();
	ret = notifier_to_errno(ksplice_jump_label_notify(NULL,
							  MODULE_STATE_COMING,
							  u->mod));
	if (ret)
		ksplice_set_reason(st, KSPLICE_NOMEM,
				   "registering the jump labels of %s: %d",
				   u->mod->name, ret);
	WARN_ON(ksplice_set_memory_ro(start, pages));
out:
	kfree(names);
	kfree(values);
	kfree(entries);
	return ret;
}
