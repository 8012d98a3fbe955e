// SPDX-License-Identifier: GPL-2.0
/*
 * ksplice_arch.c - x86-64: relocations, code the kernel rewrote at boot,
 * trampolines and text patching.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/elf.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/memory.h>
#include <linux/mutex.h>
#include <linux/string.h>
#include <asm/alternative.h>
#include <asm/apic.h>
#include <asm/irq_vectors.h>
#include <asm/cpufeature.h>
#include <asm/sync_core.h>
#include <asm/text-patching.h>
#include "../../ksplice_internal.h"

#define OP_CALL		0xe8
#define OP_JMP32	0xe9
#define OP_JMP8		0xeb
#define OP_RET		0xc3
#define OP_INT3		0xcc
#define OP_NOP1		0x90
#define OP_REX_B	0x41
#define OP_INDIRECT	0xff
#define MODRM_CALL	0xd0	/* call *%reg: mod 3, reg 2 */
#define MODRM_JMP	0xe0	/* jmp *%reg: mod 3, reg 4 */
#define INSN_REL32_LEN	5	/* call, jmp rel32 */

static const u8 nop5[] = { 0x0f, 0x1f, 0x44, 0x00, 0x00 };
static const u8 nop2[] = { 0x66, 0x90 };
static const u8 lfence[] = { 0x0f, 0xae, 0xe8 };

/*
 * Unexported: found in kallsyms at load time, typed after the kernel's
 * declarations so that a changed signature breaks the build.
 */
static typeof(&text_poke) text_poke_fn;
static typeof(&text_poke_sync) text_poke_sync_fn;
static typeof(&text_poke_kgdb) text_poke_kgdb_fn;
static typeof(&text_mutex) text_mutex_p;
/* Absent without CONFIG_SMP: then there are no SMP alternatives. */
static typeof(&alternatives_text_reserved) alternatives_text_reserved_fn;

/* Where apply_returns() may have left a "jmp" to instead of "ret; int3". */
static const char * const return_thunks[] = {
	"__x86_return_thunk", "retbleed_return_thunk", "srso_return_thunk",
	"srso_alias_return_thunk", "its_return_thunk",
	"call_depth_return_thunk",
};

static unsigned long return_thunk_addr[ARRAY_SIZE(return_thunks)];

/* Register numbers of the retpoline thunks, in x86 encoding order. */
static const char * const thunk_regs[] = {
	"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

#define RETPOLINE_PREFIX "__x86_indirect_thunk_"

int ksplice_arch_init(void)
{
	unsigned int i;

	text_poke_fn = (void *)ksplice_lookup_name("text_poke");
	text_mutex_p = (void *)ksplice_lookup_name("text_mutex");
	if (!text_poke_fn || !text_mutex_p) {
		pr_err("cannot find text_poke and text_mutex in kallsyms\n");
		return -ENOENT;
	}
	text_poke_sync_fn = (void *)ksplice_lookup_name("text_poke_sync");
	/* Optional: text_poke() without its lockdep assertion (below). */
	text_poke_kgdb_fn = (void *)ksplice_lookup_name("text_poke_kgdb");
	alternatives_text_reserved_fn =
		(void *)ksplice_lookup_name("alternatives_text_reserved");
	for (i = 0; i < ARRAY_SIZE(return_thunks); i++)
		return_thunk_addr[i] = ksplice_lookup_name(return_thunks[i]);
	return 0;
}

static int field_size(u32 type)
{
	switch (type) {
	case R_X86_64_PC32:
	case R_X86_64_PLT32:
	case R_X86_64_32:
	case R_X86_64_32S:
		return 4;
	case R_X86_64_64:
	case R_X86_64_PC64:
		return 8;
	}
	return -EOPNOTSUPP;
}

/* The target S that a relocated field holds, given its address P. */
static unsigned long deduce(u32 type, const u8 *field, unsigned long place,
			    s64 addend)
{
	switch (type) {
	case R_X86_64_PC32:
	case R_X86_64_PLT32:
		return place + (s32)get_unaligned_le32(field) - addend;
	case R_X86_64_32S:
		return (s64)(s32)get_unaligned_le32(field) - addend;
	case R_X86_64_32:
		return (u64)get_unaligned_le32(field) - addend;
	case R_X86_64_64:
		return get_unaligned_le64(field) - addend;
	case R_X86_64_PC64:
		return place + get_unaligned_le64(field) - addend;
	}
	return 0;
}

static bool is_return_thunk(unsigned long addr)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(return_thunk_addr); i++)
		if (addr && addr == return_thunk_addr[i])
			return true;
	return false;
}

static int thunk_reg(const char *symbol)
{
	unsigned int i;

	if (strncmp(symbol, RETPOLINE_PREFIX, strlen(RETPOLINE_PREFIX)))
		return -1;
	symbol += strlen(RETPOLINE_PREFIX);
	for (i = 0; i < ARRAY_SIZE(thunk_regs); i++)
		if (!strcmp(symbol, thunk_regs[i]))
			return i;
	return -1;
}

static bool its_thunks(void)
{
#ifdef X86_FEATURE_INDIRECT_THUNK_ITS
	return cpu_feature_enabled(X86_FEATURE_INDIRECT_THUNK_ITS);
#else
	return false;
#endif
}

/*
 * A retpoline site: "call/jmp __x86_indirect_thunk_REG" (or a Jcc to it)
 * in the object. apply_retpolines() leaves it, or turns it into
 * "[jncc.d8 1f;] [lfence;] call/jmp *%REG; [int3;] nop...; 1:", or (ITS)
 * into a call/jmp to a per-register thunk with no name.
 */
static bool match_retpoline(const u8 *old, const u8 *run, u32 len, int reg,
			    unsigned long dest, const char *symbol)
{
	bool jcc = len == 6;
	u8 op = jcc ? OP_JMP32 : old[0];
	u32 i = 0;

	if (!memcmp(run, old, len - 4)) {
		if (dest == ksplice_lookup_name(symbol))
			return true;
		return its_thunks();
	}
	if (jcc) {
		if (run[0] != (0x70 | ((old[1] & 0xf) ^ 1)) || run[1] != len - 2)
			return false;
		i = 2;
	}
	if (!memcmp(run + i, lfence, sizeof(lfence)))
		i += sizeof(lfence);
	if (reg >= 8) {
		if (run[i++] != OP_REX_B)
			return false;
	}
	if (run[i++] != OP_INDIRECT)
		return false;
	if (run[i++] != (op == OP_CALL ? MODRM_CALL : MODRM_JMP) + (reg & 7))
		return false;
	if (op == OP_JMP32 && i < len && run[i] == OP_INT3)
		i++;
	while (i < len && run[i] == OP_NOP1)
		i++;
	return i == len;
}

/* "jmp __x86_return_thunk": apply_returns() leaves a jmp or "ret; int3...". */
static bool match_return(const u8 *run, unsigned long dest)
{
	unsigned int i;

	if (run[0] == OP_JMP32)
		return is_return_thunk(dest);
	if (run[0] != OP_RET)
		return false;
	for (i = 1; i < INSN_REL32_LEN; i++)
		if (run[i] != OP_INT3)
			return false;
	return true;
}

/* A static call: a call/jmp to whatever it points at, a nop, or a ret. */
static bool match_static_call(const u8 *run)
{
	unsigned int i;

	if (run[0] == OP_CALL || run[0] == OP_JMP32)
		return true;
	if (!memcmp(run, nop5, sizeof(nop5)))
		return true;
	if (run[0] != OP_RET)
		return false;
	for (i = 1; i < INSN_REL32_LEN; i++)
		if (run[i] != OP_INT3)
			return false;
	return true;
}

/**
 * ksplice_arch_match_reloc - compare a relocated site with the running code
 * @f:		the function
 * @i:		index of the relocation in @f->old_relocs
 * @run:	a copy of the running code
 * @run_addr:	where the running code is
 * @start:	first byte of the site (the opcode, for rewritten branches)
 * @end:	byte after the site
 * @value:	the deduced target, if @has_value
 * @has_value:	whether @value means something
 *
 * Bytes of the site are not compared by the caller. Returns 0 if the site
 * matches, -ENOEXEC if not, -EOPNOTSUPP for relocation types this code
 * does not know, -EINVAL if the field does not fit in the function.
 */
int ksplice_arch_match_reloc(const struct ksplice_func *f, u32 i,
			     const u8 *run, unsigned long run_addr,
			     u32 *start, u32 *end, unsigned long *value,
			     bool *has_value)
{
	const struct ksplice_reloc *r = &f->old_relocs[i];
	const u8 *old = f->old_code;
	u32 size = f->old_size;
	int fsize = field_size(r->type);
	u32 off = r->offset;
	bool pcrel = r->type == R_X86_64_PC32 || r->type == R_X86_64_PLT32;
	unsigned long dest;
	int reg;

	*has_value = false;
	if (fsize < 0)
		return -EOPNOTSUPP;
	if (off + fsize > size)
		return -EINVAL;

	if (pcrel && r->addend == -4 && off >= 1 &&
	    (old[off - 1] == OP_CALL || old[off - 1] == OP_JMP32)) {
		dest = run_addr + off + 4 + (s32)get_unaligned_le32(run + off);
		*start = off - 1;
		*end = off + 4;
		if (old[off - 1] == OP_CALL && !strcmp(r->symbol, "__fentry__")) {
			/* A nop, or a call into ftrace while it traces. */
			if (!memcmp(run + off - 1, nop5, sizeof(nop5)) ||
			    run[off - 1] == OP_CALL)
				return 0;
			return -ENOEXEC;
		}
		if (old[off - 1] == OP_JMP32 &&
		    !strcmp(r->symbol, "__x86_return_thunk"))
			return match_return(run + off - 1, dest) ? 0 : -ENOEXEC;
		reg = thunk_reg(r->symbol);
		if (reg >= 0)
			return match_retpoline(old + off - 1, run + off - 1, 5,
					       reg, dest, r->symbol) ?
				0 : -ENOEXEC;
		if (!strncmp(r->symbol, "__SCT__", 7))
			return match_static_call(run + off - 1) ? 0 : -ENOEXEC;
	}
	if (pcrel && r->addend == -4 && off >= 2 && old[off - 2] == 0x0f &&
	    (old[off - 1] & 0xf0) == 0x80) {
		reg = thunk_reg(r->symbol);
		if (reg >= 0) {
			dest = run_addr + off + 4 +
				(s32)get_unaligned_le32(run + off);
			*start = off - 2;
			*end = off + 4;
			return match_retpoline(old + off - 2, run + off - 2, 6,
					       reg, dest, r->symbol) ?
				0 : -ENOEXEC;
		}
	}

	*start = off;
	*end = off + fsize;
	*value = deduce(r->type, run + off, run_addr + off, r->addend);
	if (pcrel && r->addend == -4 && off >= 1 && old[off - 1] == OP_CALL)
		*value = ksplice_call_thunk_dest(*value);
	*has_value = true;
	return 0;
}

/*
 * Boot-time rewrites at the entry: __fentry__ is a relocation site; a
 * sealed ENDBR is taken for the ENDBR (ksplice_compat.h).
 */
void ksplice_arch_prepare_run(const struct ksplice_func *f, u8 *run)
{
	ksplice_unseal_endbr(f->old_code, f->old_size, run);
}

static bool jump_to(const u8 *run, u32 off, u32 len, s32 target)
{
	if (len == 2 && run[0] == OP_JMP8)
		return (s64)off + 2 + (s8)run[1] == target;
	if (len == 5 && run[0] == OP_JMP32)
		return (s64)off + 5 + (s32)get_unaligned_le32(run + 1) == target;
	return false;
}

/**
 * ksplice_arch_match_site - compare a rewritten site with the running code
 * @s:		the site
 * @old:	old code of the function
 * @run:	a copy of the running code
 * @size:	length of both
 *
 * Returns 0 if the running bytes are one of the forms the site can take,
 * -ENOEXEC if not, -EINVAL for a malformed site.
 */
int ksplice_arch_match_site(const struct ksplice_site *s, const u8 *old,
			    const u8 *run, u32 size)
{
	const u8 *o = old + s->offset, *p = run + s->offset;

	if (s->offset + s->len > size)
		return -EINVAL;
	switch (s->kind) {
	case KSPLICE_SITE_JUMP_LABEL:
		if (s->len != 2 && s->len != 5)
			return -EINVAL;
		if (!memcmp(o, p, s->len))
			return 0;
		if (!memcmp(p, s->len == 2 ? nop2 : nop5, s->len))
			return 0;
		return jump_to(p, s->offset, s->len, s->target) ? 0 : -ENOEXEC;
	case KSPLICE_SITE_ALTERNATIVE:
		return 0;
	}
	return -EINVAL;
}

/**
 * ksplice_arch_reloc_bytes - encode a relocation of the new code
 * @type:	ELF relocation type
 * @place:	address of the field
 * @sym:	the target's address
 * @addend:	the addend
 * @buf:	the field's new bytes
 *
 * Returns the field's length, -EOPNOTSUPP for an unknown type, -ERANGE if
 * the value does not fit.
 */
int ksplice_arch_reloc_bytes(u32 type, unsigned long place, unsigned long sym,
			     s64 addend, u8 *buf)
{
	s64 v = sym + addend;

	switch (type) {
	case R_X86_64_PC32:
	case R_X86_64_PLT32:
		v -= place;
		fallthrough;
	case R_X86_64_32S:
		if (v != (s32)v)
			return -ERANGE;
		put_unaligned_le32(v, buf);
		return 4;
	case R_X86_64_32:
		if (v != (u32)v)
			return -ERANGE;
		put_unaligned_le32(v, buf);
		return 4;
	case R_X86_64_PC64:
		v -= place;
		fallthrough;
	case R_X86_64_64:
		put_unaligned_le64(v, buf);
		return 8;
	}
	return -EOPNOTSUPP;
}

/*
 * text_mutex serialises us with every other user of text_poke*() (ftrace,
 * kprobes, jump labels, static calls). Callers take it after
 * cpus_read_lock(), in the kernel's own order.
 */
void ksplice_arch_lock_text(void)
{
	mutex_lock(text_mutex_p);
}

void ksplice_arch_unlock_text(void)
{
	mutex_unlock(text_mutex_p);
}

/* Write code nobody executes yet (new code): text_mutex held. */
void ksplice_arch_poke(void *addr, const void *bytes, size_t len)
{
	text_poke_fn(addr, bytes, len);
}

/* After stop_machine: serialise every CPU before it runs the new bytes. */
void ksplice_arch_sync(void)
{
	if (text_poke_sync_fn)
		text_poke_sync_fn();
}

/* Serialise this CPU's instruction stream (stop_machine's followers). */
void notrace ksplice_arch_sync_core(void)
{
	sync_core();
}
NOKPROBE_SYMBOL(ksplice_arch_sync_core);

/*
 * x86 writes with text_poke() under an int3 (ksplice_text.c), which
 * covers whatever text_poke() calls: no alias.
 */
int ksplice_arch_map_window(unsigned long site, u32 len, void **alias,
			    void **map)
{
	*alias = NULL;
	*map = NULL;
	return 0;
}

void ksplice_arch_unmap_window(void *map)
{
}

/*
 * "jmp rel32" from @site to @dest: 5, or -ERANGE beyond +-2 GiB (modules
 * are within 2 GiB of the kernel on x86-64) or in a window of @room bytes
 * shorter than it. There is no long form (@force_long).
 */
int ksplice_arch_jump(unsigned long site, unsigned long dest, u32 room,
		      bool force_long, u8 *buf, const char **why)
{
	s64 rel = dest - (site + INSN_REL32_LEN);

	*why = "";
	if (rel != (s32)rel || room < INSN_REL32_LEN)
		return -ERANGE;
	buf[0] = OP_JMP32;
	put_unaligned_le32(rel, buf + 1);
	return INSN_REL32_LEN;
}

/* The generator's only window on x86-64: the 5 bytes of "jmp rel32". */
int ksplice_arch_check_window(const struct ksplice_site *s)
{
	return s->len == INSN_REL32_LEN ? 0 : -EINVAL;
}

/*
 * x86 writes a jump under an int3 (ksplice_text.c), which an NMI that
 * runs the function traps on: nothing to mask.
 */
int ksplice_arch_mask_nmi(void)
{
	return 0;
}

void ksplice_arch_unmask_nmi(void)
{
}

/*
 * Write code inside stop_machine (ksplice_text.c), where the other CPUs
 * wait in the callback: text_poke_bp() cannot be used there (it waits for
 * IPIs), text_poke() can, through its own mapping, with interrupts off.
 * text_poke_kgdb() is text_poke() without the assertion that the caller
 * holds text_mutex: the task that called stop_machine holds it for us.
 */
void ksplice_arch_poke_stopped(void *addr, const void *bytes, size_t len)
{
	if (text_poke_kgdb_fn)
		text_poke_kgdb_fn(addr, bytes, len);
	else
		text_poke_fn(addr, bytes, len);
}

/*
 * Lock prefixes that the SMP alternatives rewrite when CPUs come and go
 * (alternatives_text_reserved() wants text_mutex, which the caller holds).
 */
const char *ksplice_arch_text_reserved(void *start, void *end)
{
	if (alternatives_text_reserved_fn &&
	    alternatives_text_reserved_fn(start, end))
		return "a lock prefix of the SMP alternatives";
	return NULL;
}

/* The stack pointer a task that is not running left in its thread state. */
unsigned long ksplice_arch_saved_sp(struct task_struct *t)
{
	return t->thread.sp;
}

/* A word of a stack as a code address: return addresses are plain. */
unsigned long ksplice_arch_code_addr(unsigned long word)
{
	return word;
}

/*
 * Tests only (ksplice_text.c's test_only_nmi_in_jump_write): an NMI to
 * @cpu. The APIC's send_IPI_mask became a static call in 6.6.
 */
void ksplice_arch_send_nmi(unsigned int cpu)
{
#if KSPLICE_SINCE_6_12
	__apic_send_IPI_mask(cpumask_of(cpu), NMI_VECTOR);
#else
	apic->send_IPI_mask(cpumask_of(cpu), NMI_VECTOR);
#endif
}
