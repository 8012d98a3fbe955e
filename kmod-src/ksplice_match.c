// SPDX-License-Identifier: GPL-2.0
/*
 * ksplice_match.c - run-pre matching and the new code's relocations.
 *
 * Before anything changes, the old code of every function in an update is
 * compared with each function of that name in the running kernel (or in
 * the target module). Relocated fields are not compared: the target each
 * one holds is deduced instead, and all the deductions of an update must
 * agree. Exactly one candidate per function must survive. The deduced
 * addresses then resolve the new code's references to symbols the module
 * loader cannot see.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bitmap.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include "ksplice_internal.h"

#define KSPLICE_MAX_CANDIDATES	32
#define KSPLICE_SHOW_BYTES	4	/* bytes shown around a mismatch */

struct ksplice_collect {
	const char *name;
	unsigned long *addrs;
	unsigned int nr, max;
};

static void ksplice_collect_add(struct ksplice_collect *c, unsigned long addr)
{
	unsigned int i;

	for (i = 0; i < min(c->nr, c->max); i++)
		if (c->addrs[i] == addr)
			return;		/* the same symbol twice */
	if (c->nr < c->max)
		c->addrs[c->nr] = addr;
	c->nr++;
}

static int ksplice_collect_vmlinux(void *data, unsigned long addr)
{
	ksplice_collect_add(data, addr);
	return 0;
}

static int ksplice_collect_module(void *data, const char *name,
				  unsigned long addr)
{
	struct ksplice_collect *c = data;

	if (!strcmp(name, c->name))
		ksplice_collect_add(c, addr);
	return 0;
}

/*
 * Symbols called @name in vmlinux (@mod NULL) or in @mod: returns how many
 * there are, and the first @max of them in @addrs.
 */
static unsigned int ksplice_symbols(struct module *mod, const char *name,
				    unsigned long *addrs, unsigned int max)
{
	struct ksplice_collect c = {
		.name = name, .addrs = addrs, .max = max,
	};

	if (mod)
		ksplice_module_symbols(mod, ksplice_collect_module, &c);
	else
		ksplice_kernel.on_each_match_symbol(ksplice_collect_vmlinux,
						    name, &c);
	return c.nr;
}

/*
 * ksplice_count_symbol - how many symbols are called @name
 *
 * In the update's target module if it has any (its own symbols shadow
 * vmlinux's), else in vmlinux. @addr gets the first one.
 */
int ksplice_count_symbol(struct ksplice_state *st, const char *name,
			 unsigned long *addr)
{
	unsigned int n = 0;

	*addr = 0;
	if (st->target)
		n = ksplice_symbols(st->target, name, addr, 1);
	if (!n)
		n = ksplice_symbols(NULL, name, addr, 1);
	return n;
}

struct ksplice_mismatch {
	u32 offset;
	u32 len;
	u8 expected[KSPLICE_SHOW_BYTES];
	u8 found[KSPLICE_SHOW_BYTES];
};

static void ksplice_record_mismatch(struct ksplice_mismatch *mm,
				    const u8 *old, const u8 *run, u32 off,
				    u32 size)
{
	mm->offset = off;
	mm->len = min_t(u32, KSPLICE_SHOW_BYTES, size - off);
	memcpy(mm->expected, old + off, mm->len);
	memcpy(mm->found, run + off, mm->len);
}

/* First byte in [from, to) where old and running code differ, or @to. */
static u32 ksplice_diff(const u8 *old, const u8 *run, u32 from, u32 to)
{
	while (from < to && old[from] == run[from])
		from++;
	return from;
}

/*
 * Compare @f's old code with @run (a copy of the code at @run_addr). On
 * success, fills @values and @known with what the relocations deduce. On a
 * mismatch, returns -ENOEXEC with @mm telling where; other errors are
 * malformed tables or unknown relocation types (-EOPNOTSUPP).
 */
static int ksplice_match_code(const struct ksplice_func *f, const u8 *run,
			      unsigned long run_addr, unsigned long *values,
			      unsigned long *known, struct ksplice_mismatch *mm,
			      u32 *bad_reloc)
{
	const u8 *old = f->old_code;
	u32 size = f->old_size, pos = 0, ri = 0, si = 0;
	u32 rs, re, ss, next;
	unsigned long value;
	bool has_value;
	int rret = 0, ret;

	bitmap_zero(known, max(f->nr_old_relocs, 1U));
	while (pos < size) {
		/* Relocations inside a site are the site's business. */
		while (ri < f->nr_old_relocs && f->old_relocs[ri].offset < pos)
			ri++;
		/*
		 * A jump window is no code the kernel rewrites: only where
		 * the engine will write. Its bytes are old code like the
		 * rest, matched byte for byte, relocation by relocation.
		 */
		while (si < f->nr_sites &&
		       f->sites[si].kind == KSPLICE_SITE_ENTRY_JUMP)
			si++;
		rs = size;
		ss = si < f->nr_sites ? f->sites[si].offset : size;
		if (ri < f->nr_old_relocs) {
			rret = ksplice_arch_match_reloc(f, ri, run, run_addr,
							&rs, &re, &value,
							&has_value);
			if (rret == -EOPNOTSUPP || rret == -EINVAL) {
				*bad_reloc = ri;
				return rret;
			}
			if (rs < pos)
				return -EINVAL;
		}
		next = min(rs, ss);
		ret = ksplice_diff(old, run, pos, next);
		if (ret < next) {
			ksplice_record_mismatch(mm, old, run, ret, size);
			return -ENOEXEC;
		}
		pos = next;
		if (pos >= size)
			break;
		if (ss <= rs) {
			ret = ksplice_arch_match_site(&f->sites[si], old, run,
						      size);
			if (ret == -ENOEXEC)
				ksplice_record_mismatch(mm, old, run, ss, size);
			if (ret)
				return ret;
			pos = ss + f->sites[si].len;
			si++;
			continue;
		}
		if (rret) {
			ksplice_record_mismatch(mm, old, run, rs, size);
			return rret;
		}
		if (has_value) {
			values[ri] = value;
			set_bit(ri, known);
		}
		pos = re;
		ri++;
	}
	return 0;
}

/*
 * Where run-pre reads the code of the function at @addr: the function
 * itself, or the newest replacement an applied update jumps to from it.
 */
static void ksplice_code_at(unsigned long addr, unsigned long *code,
			    unsigned long *size)
{
	struct ksplice_func_state *top = ksplice_top_at(addr);
	unsigned long off;

	if (top) {
		*code = (unsigned long)top->f->new_func;
		*size = top->f->new_size;
		return;
	}
	*code = addr;
	if (!ksplice_kernel.size_offset(addr, size, &off))
		*size = 0;
}

struct ksplice_candidates {
	unsigned long addrs[KSPLICE_MAX_CANDIDATES];
	unsigned int nr;		/* symbols of that name */
	unsigned int nr_match;		/* of which match, in @match */
	unsigned long match[KSPLICE_MAX_CANDIDATES];
};

/* Match one function against every candidate; record the survivors. */
static int ksplice_match_func(struct ksplice_state *st,
			      struct ksplice_func_state *fs,
			      struct ksplice_candidates *c, u8 *buf)
{
	const struct ksplice_func *f = fs->f;
	struct ksplice_mismatch mm, best = { .offset = 0 };
	unsigned long code, size;
	unsigned int i, best_i = 0;
	bool have_best = false;
	u32 bad = 0;
	int ret;

	c->nr = ksplice_symbols(st->target, f->name, c->addrs,
				KSPLICE_MAX_CANDIDATES);
	c->nr_match = 0;
	if (!c->nr) {
		ksplice_set_reason(st, KSPLICE_NO_CANDIDATE,
				   "function %s: no symbol of that name in %s",
				   f->name, st->u->target);
		return -ENOENT;
	}
	if (c->nr > KSPLICE_MAX_CANDIDATES) {
		ksplice_set_reason(st, KSPLICE_AMBIGUOUS,
				   "function %s: %u symbols of that name, at most %u are compared",
				   f->name, c->nr, KSPLICE_MAX_CANDIDATES);
		return -ENOTUNIQ;
	}
	for (i = 0; i < c->nr; i++) {
		ksplice_code_at(c->addrs[i], &code, &size);
		if (size && size < f->old_size) {
			if (!have_best) {
				best.offset = size;
				best.len = 0;
				best_i = i;
				have_best = true;
			}
			continue;
		}
		if (copy_from_kernel_nofault(buf, (void *)code, f->old_size))
			continue;
		ksplice_arch_prepare_run(f, buf);
		ret = ksplice_match_code(f, buf, code, fs->values, fs->known,
					 &mm, &bad);
		if (ret == -EOPNOTSUPP || ret == -EINVAL) {
			ksplice_set_reason(st, KSPLICE_BAD_RELOC,
					   "function %s: relocation %u (type %u at +0x%x against %s) is not supported",
					   f->name, bad, f->old_relocs[bad].type,
					   f->old_relocs[bad].offset,
					   f->old_relocs[bad].symbol);
			return ret;
		}
		if (!ret) {
			c->match[c->nr_match++] = c->addrs[i];
			continue;
		}
		if (!have_best || mm.offset > best.offset) {
			best = mm;
			best_i = i;
			have_best = true;
		}
	}
	if (c->nr_match)
		return 0;
	if (!best.len)
		ksplice_set_reason(st, KSPLICE_CODE_MISMATCH,
				   "function %s: old code is %u bytes, the running function (candidate %u of %u) only 0x%x",
				   f->name, f->old_size, best_i + 1, c->nr,
				   best.offset);
	else
		ksplice_set_reason(st, KSPLICE_CODE_MISMATCH,
				   "function %s: byte +0x%x differs (candidate %u of %u): expected %*ph, found %*ph",
				   f->name, best.offset, best_i + 1, c->nr,
				   best.len, best.expected, best.len,
				   best.found);
	/*
	 * A kprobe writes an int3 (or, optimized, a jump) into a function
	 * without an ftrace site: say whose it is, not just which bytes.
	 */
	if (ksplice_jump_window(f)) {
		char buf[KSPLICE_MSG_LEN / 2];
		unsigned long size, off;
		const char *who;

		if (!ksplice_kernel.size_offset(c->addrs[best_i], &size, &off))
			size = f->old_size;
		who = ksplice_text_kprobe(c->addrs[best_i], size, buf,
					  sizeof(buf));
		if (who)
			ksplice_set_reason(st, KSPLICE_SITE_CONFLICT,
					   "function %s is probed: %s; remove the probe, or apply when it is gone",
					   f->name, who);
	}
	return -ENOEXEC;
}

/*
 * What the chosen functions of @of's object deduced for @of's name, if
 * anything: a same-named static of another object is another function.
 */
static bool ksplice_deduced(struct ksplice_state *st,
			    const struct ksplice_func *of, unsigned long *value)
{
	const char *name = of->name;
	unsigned int i, j;

	for (i = 0; i < ksplice_nr_matched(st->u); i++) {
		struct ksplice_func_state *fs = &st->funcs[i];

		if (!fs->addr || !ksplice_same_object(st->u, fs->f, of))
			continue;
		for (j = 0; j < fs->f->nr_old_relocs; j++) {
			if (test_bit(j, fs->known) &&
			    !strcmp(fs->f->old_relocs[j].symbol, name)) {
				*value = fs->values[j];
				return true;
			}
		}
	}
	return false;
}

/* Choose @fs's candidate @addr and record what its code deduces. */
static int ksplice_choose(struct ksplice_state *st,
			  struct ksplice_func_state *fs, unsigned long addr,
			  u8 *buf)
{
	const struct ksplice_site *w;
	struct ksplice_mismatch mm;
	u32 bad;
	unsigned long off;

	fs->addr = addr;
	if (!ksplice_kernel.size_offset(addr, &fs->addr_size, &off))
		fs->addr_size = fs->f->old_size;
	ksplice_code_at(addr, &fs->code, &fs->code_size);
	if (!fs->code_size)
		fs->code_size = fs->f->old_size;
	if (copy_from_kernel_nofault(buf, (void *)fs->code, fs->f->old_size))
		return -EFAULT;
	/*
	 * The jump window as matched: ksplice_text.c checks that the
	 * function still holds it (relocated fields included) when it
	 * claims the window, and writes it back on reverse.
	 */
	w = ksplice_jump_window(fs->f);
	if (w)	/* inside the old code, at most KSPLICE_JUMP_MAX: checked */
		memcpy(fs->jump_run, buf + w->offset, w->len);
	ksplice_arch_prepare_run(fs->f, buf);
	return ksplice_match_code(fs->f, buf, fs->code, fs->values, fs->known,
				  &mm, &bad);
}

/*
 * Every symbol must deduce one address in each object of the update (names
 * starting with '.' within one function), and the address kallsyms has for
 * it when it is unique there. Not across objects: each may have a static
 * of the name (a global has one address, which the kallsyms check holds
 * them to when kallsyms has no namesake).
 */
static int ksplice_check_deductions(struct ksplice_state *st)
{
	unsigned int a, b, i, j;
	unsigned long addr;

	for (a = 0; a < ksplice_nr_matched(st->u); a++) {
		struct ksplice_func_state *fa = &st->funcs[a];

		for (i = 0; i < fa->f->nr_old_relocs; i++) {
			const struct ksplice_reloc *ra = &fa->f->old_relocs[i];
			bool local = ra->symbol[0] == '.';

			if (!test_bit(i, fa->known))
				continue;
			for (b = a; b < ksplice_nr_matched(st->u); b++) {
				struct ksplice_func_state *fb = &st->funcs[b];

				if (local && b != a)
					break;
				if (!ksplice_same_object(st->u, fa->f, fb->f))
					continue;
				for (j = b == a ? i + 1 : 0;
				     j < fb->f->nr_old_relocs; j++) {
					const struct ksplice_reloc *rb =
						&fb->f->old_relocs[j];

					if (!test_bit(j, fb->known) ||
					    strcmp(ra->symbol, rb->symbol) ||
					    fa->values[i] == fb->values[j])
						continue;
					ksplice_set_reason(st, KSPLICE_SYMBOL_CONFLICT,
							   "symbol %s: %s+0x%x refers to 0x%lx, %s+0x%x to 0x%lx",
							   ra->symbol, fa->f->name,
							   ra->offset, fa->values[i],
							   fb->f->name, rb->offset,
							   fb->values[j]);
					return -ENOEXEC;
				}
			}
			if (local)
				continue;
			if (ksplice_count_symbol(st, ra->symbol, &addr) == 1 &&
			    addr != fa->values[i]) {
				ksplice_set_reason(st, KSPLICE_SYMBOL_CONFLICT,
						   "symbol %s: %s+0x%x refers to 0x%lx, kallsyms says 0x%lx",
						   ra->symbol, fa->f->name,
						   ra->offset, fa->values[i],
						   addr);
				return -ENOEXEC;
			}
		}
	}
	return 0;
}

/**
 * ksplice_run_pre - match the old code of @st against the running kernel
 * @st:	the update
 *
 * Fills in the address of each function and what its relocations deduce.
 * Returns 0, or an errno with the reason recorded in @st.
 */
int ksplice_run_pre(struct ksplice_state *st)
{
	const struct ksplice_update *u = st->u;
	struct ksplice_candidates *cands;
	unsigned int i, j, maxsize = 0;
	bool progress;
	unsigned long value;
	u8 *buf;
	int ret = 0;

	for (i = 0; i < ksplice_nr_matched(u); i++) {
		maxsize = max(maxsize, ksplice_func_at(u, i)->old_size);
		st->funcs[i].addr = 0;
	}
	buf = kvmalloc(maxsize, GFP_KERNEL);
	cands = kvcalloc(ksplice_nr_matched(u), sizeof(*cands), GFP_KERNEL);
	if (!buf || !cands) {
		ksplice_set_reason(st, KSPLICE_NOMEM, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < ksplice_nr_matched(u); i++) {
		ret = ksplice_match_func(st, &st->funcs[i], &cands[i], buf);
		if (ret)
			goto out;
		if (cands[i].nr_match == 1) {
			ret = ksplice_choose(st, &st->funcs[i],
					     cands[i].match[0], buf);
			if (ret)
				goto out;
		}
	}
	/*
	 * Several functions of one name match: another function of the update
	 * may refer to the right one (a same-named static it calls).
	 */
	do {
		progress = false;
		for (i = 0; i < ksplice_nr_matched(u); i++) {
			struct ksplice_func_state *fs = &st->funcs[i];

			if (fs->addr || !ksplice_deduced(st, fs->f, &value))
				continue;
			for (j = 0; j < cands[i].nr_match; j++)
				if (cands[i].match[j] == value)
					break;
			if (j == cands[i].nr_match)
				continue;
			ret = ksplice_choose(st, fs, value, buf);
			if (ret)
				goto out;
			progress = true;
		}
	} while (progress);

	for (i = 0; i < ksplice_nr_matched(u); i++) {
		if (!st->funcs[i].addr) {
			ksplice_set_reason(st, KSPLICE_AMBIGUOUS,
					   "function %s: %u of %u functions of that name match, nothing in the update tells them apart",
					   ksplice_func_at(u, i)->name,
					   cands[i].nr_match, cands[i].nr);
			ret = -ENOTUNIQ;
			goto out;
		}
	}
	/*
	 * Two entries matched to one running function would write two
	 * trampolines over each other, or bind statics through the wrong one.
	 */
	for (i = 0; i < ksplice_nr_matched(u); i++) {
		for (j = i + 1; j < ksplice_nr_matched(u); j++) {
			if (st->funcs[i].addr != st->funcs[j].addr)
				continue;
			ksplice_set_reason(st, KSPLICE_AMBIGUOUS,
					   "%s and %s of the update both matched the function at %pS",
					   ksplice_func_at(u, i)->name,
					   ksplice_func_at(u, j)->name,
					   (void *)st->funcs[i].addr);
			ret = -ENOTUNIQ;
			goto out;
		}
	}
	ret = ksplice_check_deductions(st);
out:
	kvfree(cands);
	kvfree(buf);
	return ret;
}

/**
 * ksplice_resolve_new_relocs - write the relocations of the new code
 * @st:	the update, after ksplice_run_pre()
 *
 * The new code is not reachable yet: it is written with the text patching
 * primitive under text_mutex, without stop_machine.
 */
int ksplice_resolve_new_relocs(struct ksplice_state *st)
{
	const struct ksplice_update *u = st->u;
	unsigned int i, k, n;
	unsigned long sym;
	u8 (*bytes)[8];
	int *lens, ret = 0;

	if (!u->nr_new_relocs)
		return 0;
	bytes = kcalloc(u->nr_new_relocs, sizeof(*bytes), GFP_KERNEL);
	lens = kcalloc(u->nr_new_relocs, sizeof(*lens), GFP_KERNEL);
	if (!bytes || !lens) {
		ksplice_set_reason(st, KSPLICE_NOMEM, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < u->nr_new_relocs; i++) {
		const struct ksplice_new_reloc *r = &u->new_relocs[i];
		bool found = false;

		if (r->old_func) {
			/* ksplice_check_update() checked the index. */
			struct ksplice_func_state *fs =
				&st->funcs[ksplice_func_index(u, r->old_func)];

			if (!strcmp(fs->f->name, r->symbol)) {
				/* The function itself (a helper the new code calls). */
				sym = fs->addr;
				found = true;
			}
			for (k = 0; !found && k < fs->f->nr_old_relocs; k++) {
				if (test_bit(k, fs->known) &&
				    !strcmp(fs->f->old_relocs[k].symbol, r->symbol)) {
					sym = fs->values[k];
					found = true;
				}
			}
			if (!found) {
				ksplice_set_reason(st, KSPLICE_UNRESOLVED,
						   "new code relocation %u: the old code of %s does not refer to %s",
						   i, r->old_func->name, r->symbol);
				ret = -ENOENT;
				goto out;
			}
		} else {
			n = ksplice_count_symbol(st, r->symbol, &sym);
			if (n != 1) {
				ksplice_set_reason(st, KSPLICE_UNRESOLVED,
						   "new code relocation %u: %u symbols called %s in kallsyms, want one",
						   i, n, r->symbol);
				ret = -ENOENT;
				goto out;
			}
		}
		lens[i] = ksplice_arch_reloc_bytes(r->type,
						   (unsigned long)r->place, sym,
						   r->addend, bytes[i]);
		if (lens[i] < 0) {
			ksplice_set_reason(st, KSPLICE_BAD_RELOC,
					   "new code relocation %u: type %u against %s: %s",
					   i, r->type, r->symbol,
					   lens[i] == -ERANGE ? "value out of range" :
					   "type not supported");
			ret = lens[i];
			goto out;
		}
	}
	ksplice_arch_lock_text();
	for (i = 0; i < u->nr_new_relocs; i++)
		ksplice_arch_poke(u->new_relocs[i].place, bytes[i], lens[i]);
	ksplice_arch_unlock_text();
out:
	kfree(lens);
	kfree(bytes);
	return ret;
}
