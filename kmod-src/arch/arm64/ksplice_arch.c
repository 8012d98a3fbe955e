// SPDX-License-Identifier: GPL-2.0
/*
 * ksplice_arch.c - arm64: relocations, code the kernel rewrote at boot,
 * and text patching.
 *
 * Every instruction is 4 bytes, little-endian. A relocated field is a bit
 * field of an instruction (imm26 of b/bl, immhi:immlo of adrp, imm12 of
 * add and of loads and stores), so a relocation site is the whole
 * instruction: the bits outside the field are compared here, the field
 * tells the target.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/arm_sdei.h>
#include <linux/elf.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/mm.h>
#include <linux/sizes.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <asm/cpufeature.h>
#include <asm/patching.h>
#include "../../ksplice_internal.h"

#define A64_NOP		0xd503201fU
#define A64_MOV_X9_X30	0xaa1e03e9U	/* orr x9, xzr, x30 */
#define A64_LDR_X16_8	0x58000050U	/* ldr x16, .+8 */
#define A64_BR_X16	0xd61f0200U
#define A64_ADD_X16	0x91000210U	/* add x16, x16, #imm12 */
#define A64_ADRP_X16	0x90000010U	/* adrp x16, #imm21 pages */
/* Landing pads of "br x16" on a BTI-guarded page. */
#define A64_BTI_C	0xd503245fU
#define A64_BTI_J	0xd503249fU
#define A64_BTI_JC	0xd50324dfU
#define A64_PACIASP	0xd503233fU
#define A64_PACIBSP	0xd503237fU
/* The long form of a direct jump: adrp x16; add x16; br x16. */
#define A64_LONG_JUMP	12

#define A64_B_MASK	0xfc000000U
#define A64_B		0x14000000U
#define A64_BL		0x94000000U
#define A64_ADR_MASK	0x9f000000U
#define A64_ADR		0x10000000U
#define A64_ADRP	0x90000000U
#define A64_ADD_MASK	0xffc00000U	/* add (immediate), 64-bit, lsl #0 */
#define A64_ADD_X	0x91000000U
#define A64_RD(insn)	((insn) & 0x1f)
#define A64_RN(insn)	(((insn) >> 5) & 0x1f)

/* Immediate fields of the instructions relocations write. */
#define A64_IMM26	0x03ffffffU
#define A64_IMM19	0x00ffffe0U
#define A64_IMM14	0x0007ffe0U
#define A64_IMM21	0x60ffffe0U	/* immlo 30:29, immhi 23:5 */
#define A64_IMM12	0x003ffc00U

/* ftrace's patchable entry: two NOPs at +0 in the object, before the body. */
#define FTRACE_SITE_LEN	8

/*
 * Unexported: found in kallsyms at load time, typed after the kernel's
 * declaration so that a changed signature breaks the build. Writes one
 * instruction through a fixmap alias under the raw spinlock patch_lock,
 * then cleans and invalidates the caches for it to the point of
 * unification.
 */
static typeof(&aarch64_insn_patch_text_nosync) patch_text_nosync_fn;

/*
 * SDEI (firmware-first RAS, CONFIG_ARM_SDE_INTERFACE): events the firmware
 * delivers to a CPU whatever its interrupt mask, NMI-like, whose handlers
 * may run any kernel code. Masked on every CPU while a direct jump of
 * several instructions is written (ksplice_text.c). Absent from kallsyms
 * without SDEI; -EIO (taken as success by these) without SDEI firmware.
 */
static typeof(&sdei_mask_local_cpu) sdei_mask_fn;
static typeof(&sdei_unmask_local_cpu) sdei_unmask_fn;

/*
 * The kernel image's text, whose pages are found from its physical
 * address (ksplice_arch_map_window()); module text is vmalloc'ed.
 * _stext and _etext are not exported: kallsyms has them.
 */
static unsigned long image_text_start, image_text_end;

int ksplice_arch_init(void)
{
	sdei_mask_fn = (void *)ksplice_lookup_name("sdei_mask_local_cpu");
	sdei_unmask_fn = (void *)ksplice_lookup_name("sdei_unmask_local_cpu");
	if (!sdei_mask_fn != !sdei_unmask_fn) {
		pr_err("found only one of sdei_mask_local_cpu and sdei_unmask_local_cpu in kallsyms\n");
		return -ENOENT;
	}
	image_text_start = ksplice_lookup_name("_stext");
	image_text_end = ksplice_lookup_name("_etext");
	if (!image_text_start || image_text_end <= image_text_start) {
		pr_err("cannot find _stext and _etext in kallsyms\n");
		return -ENOENT;
	}
	patch_text_nosync_fn =
		(void *)ksplice_lookup_name("aarch64_insn_patch_text_nosync");
	if (!patch_text_nosync_fn) {
		pr_err("cannot find aarch64_insn_patch_text_nosync in kallsyms\n");
		return -ENOENT;
	}
	return 0;
}

static u32 insn_at(const u8 *code, u32 off)
{
	return get_unaligned_le32(code + off);
}

static s64 sext(u64 v, unsigned int bits)
{
	return (s64)(v << (64 - bits)) >> (64 - bits);
}

/* The field of an instruction that relocation @type writes; 0 for data. */
static u32 imm_mask(u32 type)
{
	switch (type) {
	case R_AARCH64_CALL26:
	case R_AARCH64_JUMP26:
		return A64_IMM26;
	case R_AARCH64_CONDBR19:
	case R_AARCH64_LD_PREL_LO19:
		return A64_IMM19;
	case R_AARCH64_TSTBR14:
		return A64_IMM14;
	case R_AARCH64_ADR_PREL_PG_HI21:
	case R_AARCH64_ADR_PREL_PG_HI21_NC:
	case R_AARCH64_ADR_PREL_LO21:
		return A64_IMM21;
	case R_AARCH64_ADD_ABS_LO12_NC:
	case R_AARCH64_LDST8_ABS_LO12_NC:
	case R_AARCH64_LDST16_ABS_LO12_NC:
	case R_AARCH64_LDST32_ABS_LO12_NC:
	case R_AARCH64_LDST64_ABS_LO12_NC:
	case R_AARCH64_LDST128_ABS_LO12_NC:
		return A64_IMM12;
	}
	return 0;
}

/* Bytes of a data relocation's field; -EOPNOTSUPP for unknown types. */
static int data_size(u32 type)
{
	switch (type) {
	case R_AARCH64_ABS64:
	case R_AARCH64_PREL64:
		return 8;
	case R_AARCH64_ABS32:
	case R_AARCH64_PREL32:
		return 4;
	}
	return -EOPNOTSUPP;
}

static bool is_page(u32 type)
{
	return type == R_AARCH64_ADR_PREL_PG_HI21 ||
	       type == R_AARCH64_ADR_PREL_PG_HI21_NC;
}

static bool is_lo12(u32 type)
{
	return imm_mask(type) == A64_IMM12;
}

/* How far the low 12 bits are shifted right in a :lo12: field. */
static unsigned int lo12_shift(u32 type)
{
	switch (type) {
	case R_AARCH64_LDST16_ABS_LO12_NC:
		return 1;
	case R_AARCH64_LDST32_ABS_LO12_NC:
		return 2;
	case R_AARCH64_LDST64_ABS_LO12_NC:
		return 3;
	case R_AARCH64_LDST128_ABS_LO12_NC:
		return 4;
	}
	return 0;
}

/* The address a PC-relative instruction at @pc refers to. */
static unsigned long pcrel_dest(u32 type, u32 insn, unsigned long pc)
{
	switch (imm_mask(type)) {
	case A64_IMM26:
		return pc + (sext(insn & A64_IMM26, 26) << 2);
	case A64_IMM19:
		return pc + (sext((insn & A64_IMM19) >> 5, 19) << 2);
	case A64_IMM14:
		return pc + (sext((insn & A64_IMM14) >> 5, 14) << 2);
	}
	/* adr, adrp: immhi:immlo */
	return pc + sext(((insn >> 29) & 3) | (((insn >> 5) & 0x7ffff) << 2),
			 21);
}

static unsigned long adrp_page(u32 insn, unsigned long pc)
{
	return (pc & ~0xfffUL) +
		(sext(((insn >> 29) & 3) | (((insn >> 5) & 0x7ffff) << 2),
		      21) << 12);
}

static u32 lo12_of(u32 type, u32 insn)
{
	return ((insn & A64_IMM12) >> 10) << lo12_shift(type);
}

static bool read_insns(unsigned long addr, u32 *insns, unsigned int n)
{
	__le32 buf[3];
	unsigned int i;

	if (WARN_ON(n > ARRAY_SIZE(buf)) ||
	    copy_from_kernel_nofault(buf, (void *)addr, n * sizeof(u32)))
		return false;
	for (i = 0; i < n; i++)
		insns[i] = le32_to_cpu(buf[i]);
	return true;
}

/*
 * A call from a module to vmlinux goes through a PLT entry of the module
 * (struct plt_entry: adrp x16; add x16, x16, #lo12; br x16): the target is
 * what the entry loads.
 */
static unsigned long follow_plt(unsigned long dest)
{
	u32 e[3];

	if (!read_insns(dest, e, 3) ||
	    (e[0] & (A64_ADR_MASK | 0x1f)) != (A64_ADRP | 16) ||
	    (e[1] & ~A64_IMM12) != A64_ADD_X16 || e[2] != A64_BR_X16)
		return dest;
	return adrp_page(e[0], dest) + ((e[1] & A64_IMM12) >> 10);
}

/*
 * The running instruction of an old :lo12: load, store or add at @pc:
 * itself, or, where the linker's Cortex-A53 erratum 843419 fix moved it
 * to a stub and left "b stub" in its place, the stub's first instruction.
 */
static u32 lo12_insn(u32 old, u32 run, unsigned long pc)
{
	u32 stub;

	if ((run & A64_B_MASK) == A64_B && (old & A64_B_MASK) != A64_B &&
	    read_insns(pcrel_dest(R_AARCH64_JUMP26, run, pc), &stub, 1))
		return stub;
	return run;
}

/*
 * The page an old "adrp Rd, S+A" at @pc computes in the running code
 * @run: an adrp; an "adr" of the page (the Cortex-A53 erratum 843419 fix
 * of the linker and of the module loader, for a near page); or, from the
 * module loader for a far one, "b veneer" to "adrp Rd; add Rd, Rd, #0;
 * b back". The paired :lo12: instruction adds the low bits in each case.
 */
static int adrp_value(u32 old, u32 run, unsigned long pc, unsigned long *v)
{
	u32 vn[2];

	if ((run & ~A64_IMM21) == (old & ~A64_IMM21)) {
		*v = adrp_page(run, pc);
		return 0;
	}
	if ((run & A64_ADR_MASK) == A64_ADR && A64_RD(run) == A64_RD(old)) {
		*v = pcrel_dest(R_AARCH64_ADR_PREL_LO21, run, pc);
		return 0;
	}
	if ((run & A64_B_MASK) == A64_B) {
		unsigned long veneer = pcrel_dest(R_AARCH64_JUMP26, run, pc);

		if (!read_insns(veneer, vn, 2) ||
		    (vn[0] & ~A64_IMM21) != (old & ~A64_IMM21) ||
		    (vn[1] & A64_ADD_MASK) != A64_ADD_X ||
		    A64_RD(vn[1]) != A64_RD(old) || A64_RN(vn[1]) != A64_RD(old))
			return -ENOEXEC;
		*v = adrp_page(vn[0], veneer) + ((vn[1] & A64_IMM12) >> 10);
		return 0;
	}
	return -ENOEXEC;
}

/*
 * The other half of an adrp/:lo12: pair: a relocation of @f against the
 * same symbol and addend, whose instruction uses the adrp's register.
 * Returns its index, or -1.
 */
static int find_pair(const struct ksplice_func *f, u32 i)
{
	const struct ksplice_reloc *r = &f->old_relocs[i];
	u32 insn = insn_at(f->old_code, r->offset);
	u32 j;

	for (j = 0; j < f->nr_old_relocs; j++) {
		const struct ksplice_reloc *o = &f->old_relocs[j];
		u32 oi;

		if (o->addend != r->addend || strcmp(o->symbol, r->symbol) ||
		    o->offset + 4 > f->old_size)
			continue;
		oi = insn_at(f->old_code, o->offset);
		if (is_page(r->type) && is_lo12(o->type) &&
		    A64_RN(oi) == A64_RD(insn))
			return j;
		if (is_lo12(r->type) && is_page(o->type) &&
		    A64_RN(insn) == A64_RD(oi))
			return j;
	}
	return -1;
}

/* The full address an adrp/:lo12: pair computes in the running code. */
static int pair_value(const struct ksplice_func *f, u32 page_i, u32 lo_i,
		      const u8 *run, unsigned long run_addr, unsigned long *v)
{
	const struct ksplice_reloc *p = &f->old_relocs[page_i];
	const struct ksplice_reloc *l = &f->old_relocs[lo_i];
	u32 lo_old = insn_at(f->old_code, l->offset);
	u32 lo_run = lo12_insn(lo_old, insn_at(run, l->offset),
			       run_addr + l->offset);
	int ret;

	ret = adrp_value(insn_at(f->old_code, p->offset),
			 insn_at(run, p->offset), run_addr + p->offset, v);
	if (ret)
		return ret;
	*v += lo12_of(l->type, lo_run) - p->addend;
	return 0;
}

/**
 * ksplice_arch_match_reloc - compare a relocated site with the running code
 * @f:		the function
 * @i:		index of the relocation in @f->old_relocs
 * @run:	a copy of the running code
 * @run_addr:	where the running code is
 * @start:	first byte of the site (the instruction)
 * @end:	byte after the site
 * @value:	the deduced target S, if @has_value
 * @has_value:	whether @value means something
 *
 * The instruction must equal the old one outside the relocated field;
 * the field tells S: for branches S = P + sext(imm) * 4 - A (through a
 * module's PLT entry to what it jumps to); for adrp and the :lo12: add,
 * load or store that completes it (same symbol and addend, the adrp's
 * register as base), S = page + lo12 - A, deduced for both halves; a
 * :lo12: or adrp alone only compares. Data: S = field (+ P) - A.
 *
 * Returns 0 if the site matches, -ENOEXEC if not, -EOPNOTSUPP for
 * relocation types this code does not know, -EINVAL if the field does not
 * fit in the function.
 */
int ksplice_arch_match_reloc(const struct ksplice_func *f, u32 i,
			     const u8 *run, unsigned long run_addr,
			     u32 *start, u32 *end, unsigned long *value,
			     bool *has_value)
{
	const struct ksplice_reloc *r = &f->old_relocs[i];
	u32 off = r->offset, mask = imm_mask(r->type), old, ins;
	unsigned long place = run_addr + off;
	int size, pair;

	*has_value = false;
	if (r->type == R_AARCH64_NONE) {
		*start = off;
		*end = off;
		return 0;
	}
	if (!mask) {
		size = data_size(r->type);
		if (size < 0)
			return size;
		if (off + size > f->old_size)
			return -EINVAL;
		*start = off;
		*end = off + size;
		switch (r->type) {
		case R_AARCH64_ABS64:
			*value = get_unaligned_le64(run + off) - r->addend;
			break;
		case R_AARCH64_PREL64:
			*value = place + get_unaligned_le64(run + off) -
				r->addend;
			break;
		case R_AARCH64_ABS32:
			*value = (u64)get_unaligned_le32(run + off) - r->addend;
			break;
		case R_AARCH64_PREL32:
			*value = place + (s32)get_unaligned_le32(run + off) -
				r->addend;
			break;
		}
		*has_value = true;
		return 0;
	}

	if (off % 4 || off + 4 > f->old_size)
		return -EINVAL;
	*start = off;
	*end = off + 4;
	old = insn_at(f->old_code, off);
	ins = insn_at(run, off);

	if (is_page(r->type)) {
		unsigned long page;

		if (adrp_value(old, ins, place, &page))
			return -ENOEXEC;
		pair = find_pair(f, i);
		if (pair >= 0 && !pair_value(f, i, pair, run, run_addr, value))
			*has_value = true;
		return 0;
	}
	if (is_lo12(r->type)) {
		ins = lo12_insn(old, ins, place);
		if ((ins & ~mask) != (old & ~mask))
			return -ENOEXEC;
		pair = find_pair(f, i);
		if (pair >= 0 && !pair_value(f, pair, i, run, run_addr, value))
			*has_value = true;
		return 0;
	}
	if ((ins & ~mask) != (old & ~mask))
		return -ENOEXEC;
	*value = pcrel_dest(r->type, ins, place);
	if (r->type == R_AARCH64_CALL26 || r->type == R_AARCH64_JUMP26)
		*value = follow_plt(*value);
	*value -= r->addend;
	*has_value = true;
	return 0;
}

/*
 * The object's patchable function entry, two NOPs at +0: ftrace makes
 * them "mov x9, x30; nop" at boot (or module load), and the second a
 * "bl" to its trampoline (directly, or through a module PLT) while the
 * function is traced. In @run, either form is put back to the object's.
 */
static bool has_ftrace_site(const struct ksplice_func *f)
{
	return f->old_size >= FTRACE_SITE_LEN &&
	       insn_at(f->old_code, 0) == A64_NOP &&
	       insn_at(f->old_code, 4) == A64_NOP;
}

void ksplice_arch_prepare_run(const struct ksplice_func *f, u8 *run)
{
	u32 i0 = insn_at(run, 0), i1 = insn_at(run, 4);

	if (!has_ftrace_site(f))
		return;
	if ((i0 == A64_NOP || i0 == A64_MOV_X9_X30) &&
	    (i1 == A64_NOP || (i1 & A64_B_MASK) == A64_BL))
		memcpy(run, f->old_code, FTRACE_SITE_LEN);
}

/**
 * ksplice_arch_match_site - compare a rewritten site with the running code
 * @s:		the site
 * @old:	old code of the function
 * @run:	a copy of the running code
 * @size:	length of both
 *
 * A jump label is the old instruction, a nop, or "b" to its target; an
 * alternative may be anything (alternatives apply their replacement, or
 * an alternative callback generates code, at boot).
 *
 * Returns 0 if the running bytes are one of the forms the site can take,
 * -ENOEXEC if not, -EINVAL for a malformed site.
 */
int ksplice_arch_match_site(const struct ksplice_site *s, const u8 *old,
			    const u8 *run, u32 size)
{
	u32 ins;

	if (s->offset + s->len > size)
		return -EINVAL;
	switch (s->kind) {
	case KSPLICE_SITE_JUMP_LABEL:
		if (s->len != 4 || s->offset % 4)
			return -EINVAL;
		ins = insn_at(run, s->offset);
		if (ins == insn_at(old, s->offset) || ins == A64_NOP)
			return 0;
		if ((ins & A64_B_MASK) == A64_B &&
		    (s64)s->offset + (sext(ins & A64_IMM26, 26) << 2) ==
		    s->target)
			return 0;
		return -ENOEXEC;
	case KSPLICE_SITE_ALTERNATIVE:
		return 0;
	}
	return -EINVAL;
}

static int put_field(u32 type, unsigned long place, s64 imm, u8 *buf)
{
	u32 insn = get_unaligned_le32((void *)place);

	switch (imm_mask(type)) {
	case A64_IMM26:
		insn = (insn & ~A64_IMM26) | (imm & A64_IMM26);
		break;
	case A64_IMM19:
		insn = (insn & ~A64_IMM19) | ((imm << 5) & A64_IMM19);
		break;
	case A64_IMM14:
		insn = (insn & ~A64_IMM14) | ((imm << 5) & A64_IMM14);
		break;
	case A64_IMM21:
		insn = (insn & ~A64_IMM21) | ((imm & 3) << 29) |
			(((imm >> 2) << 5) & 0x00ffffe0);
		break;
	case A64_IMM12:
		insn = (insn & ~A64_IMM12) | ((imm << 10) & A64_IMM12);
		break;
	}
	put_unaligned_le32(insn, buf);
	return 4;
}

static bool fits(s64 v, unsigned int bits)
{
	return sext(v, bits) == v;
}

/**
 * ksplice_arch_reloc_bytes - encode a relocation of the new code
 * @type:	ELF relocation type
 * @place:	address of the field (for instruction fields: of the
 *		instruction, which is read for its other bits)
 * @sym:	the target's address
 * @addend:	the addend
 * @buf:	the field's new bytes (the whole instruction)
 *
 * Returns the field's length, -EOPNOTSUPP for an unknown type, -ERANGE if
 * the value does not fit or is misaligned.
 */
int ksplice_arch_reloc_bytes(u32 type, unsigned long place, unsigned long sym,
			     s64 addend, u8 *buf)
{
	s64 v = sym + addend;

	switch (type) {
	case R_AARCH64_ABS64:
		put_unaligned_le64(v, buf);
		return 8;
	case R_AARCH64_PREL64:
		put_unaligned_le64(v - place, buf);
		return 8;
	case R_AARCH64_PREL32:
		v -= place;
		if (!fits(v, 32))
			return -ERANGE;
		put_unaligned_le32(v, buf);
		return 4;
	case R_AARCH64_ABS32:
		if (v != (u32)v)
			return -ERANGE;
		put_unaligned_le32(v, buf);
		return 4;
	case R_AARCH64_CALL26:
	case R_AARCH64_JUMP26:
		v -= place;
		if (v % 4 || !fits(v, 28))
			return -ERANGE;
		return put_field(type, place, v >> 2, buf);
	case R_AARCH64_CONDBR19:
	case R_AARCH64_LD_PREL_LO19:
		v -= place;
		if (v % 4 || !fits(v, 21))
			return -ERANGE;
		return put_field(type, place, v >> 2, buf);
	case R_AARCH64_TSTBR14:
		v -= place;
		if (v % 4 || !fits(v, 16))
			return -ERANGE;
		return put_field(type, place, v >> 2, buf);
	case R_AARCH64_ADR_PREL_LO21:
		v -= place;
		if (!fits(v, 21))
			return -ERANGE;
		return put_field(type, place, v, buf);
	case R_AARCH64_ADR_PREL_PG_HI21:
	case R_AARCH64_ADR_PREL_PG_HI21_NC:
		v = (s64)((v & ~0xfffLL) - (place & ~0xfffUL)) >> 12;
		if (!fits(v, 21))
			return -ERANGE;
		return put_field(type, place, v, buf);
	case R_AARCH64_ADD_ABS_LO12_NC:
	case R_AARCH64_LDST8_ABS_LO12_NC:
	case R_AARCH64_LDST16_ABS_LO12_NC:
	case R_AARCH64_LDST32_ABS_LO12_NC:
	case R_AARCH64_LDST64_ABS_LO12_NC:
	case R_AARCH64_LDST128_ABS_LO12_NC:
		v &= 0xfff;
		if (v & ((1 << lo12_shift(type)) - 1))
			return -ERANGE;
		return put_field(type, place, v >> lo12_shift(type), buf);
	}
	return -EOPNOTSUPP;
}

/*
 * text_mutex is data, and Debian's arm64 kernels have no data symbols in
 * kallsyms (KALLSYMS_ALL off): there is nothing to take. Nothing needs it
 * either: each write of aarch64_insn_patch_text_nosync() is serialised
 * with every other text write by patch_lock, and goes to the update
 * module's own text, which no one else patches; the jump windows are
 * written inside stop_machine, where no other text patcher runs.
 * ksplice_mutex serialises ksplice itself.
 */
void ksplice_arch_lock_text(void)
{
}

void ksplice_arch_unlock_text(void)
{
}

static void poke_words(void *addr, const void *bytes, size_t len)
{
	size_t i;
	int ret;

	if (WARN_ON((unsigned long)addr % 4 || len % 4))
		return;
	for (i = 0; i < len; i += 4) {
		ret = patch_text_nosync_fn(addr + i,
					   get_unaligned_le32(bytes + i));
		WARN_ON(ret);
	}
}

/*
 * Write code nobody executes yet (new code): one 32-bit word at a time,
 * each cleaned to the point of unification and invalidated in the
 * instruction caches of every CPU (the invalidation is broadcast).
 */
void ksplice_arch_poke(void *addr, const void *bytes, size_t len)
{
	poke_words(addr, bytes, len);
}

/*
 * Every CPU of stop_machine: the context synchronisation of a write.
 * Called between the words of a jump (ksplice_text.c): not traceable,
 * not probeable.
 */
void notrace ksplice_arch_sync_core(void)
{
	isb();
}
NOKPROBE_SYMBOL(ksplice_arch_sync_core);

/* The page of text at @addr: of the kernel image, or of a module. */
static struct page *text_page(unsigned long addr)
{
	if (addr >= image_text_start && addr < image_text_end)
		return phys_to_page(__pa_symbol(addr));
	return vmalloc_to_page((void *)addr);
}

/**
 * ksplice_arch_map_window - a writable alias of a jump window
 * @site:	the window
 * @len:	its length (a 12-byte window may straddle two pages)
 * @alias:	where @site is writable
 * @map:	the mapping, for ksplice_arch_unmap_window()
 *
 * Before stop_machine, in process context. The write inside it then
 * needs neither aarch64_insn_patch_text_nosync() nor anything it calls
 * (the fixmap, copy_to_kernel_nofault(), the cache maintenance
 * functions): all traceable or probeable, and so able to reach the
 * window while it is half written.
 *
 * Returns 0, -EFAULT when a page is not found, -ENOMEM.
 */
int ksplice_arch_map_window(unsigned long site, u32 len, void **alias,
			    void **map)
{
	unsigned long last = site + len - 1;
	struct page *pages[2];
	unsigned int n = 1;
	void *base;

	pages[0] = text_page(site);
	if ((last & PAGE_MASK) != (site & PAGE_MASK))
		pages[n++] = text_page(last);
	if (!pages[0] || !pages[n - 1])
		return -EFAULT;
	base = vmap(pages, n, VM_MAP, PAGE_KERNEL);
	if (!base)
		return -ENOMEM;
	*map = base;
	*alias = base + offset_in_page(site);
	return 0;
}

void ksplice_arch_unmap_window(void *map)
{
	vunmap(map);
}

/**
 * ksplice_arch_poke_alias - write one instruction inside stop_machine
 * @alias:	where it is writable (ksplice_arch_map_window())
 * @addr:	where it runs
 * @word:	its 4 bytes
 *
 * What aarch64_insn_patch_text_nosync() does, inline: the store, then
 * the data cache line cleaned (and invalidated, which is what the kernel
 * does for the errata of "dc cvau") and the instruction cache line
 * invalidated for every CPU (both broadcast in the inner shareable
 * domain), each completed by a dsb, then an isb for this CPU; the others
 * isb in the callback. No call: it runs between the words of a jump.
 */
void notrace ksplice_arch_poke_alias(void *alias, void *addr, const u8 *word)
{
	WRITE_ONCE(*(u32 *)alias, get_unaligned((const u32 *)word));
	asm volatile("dc civac, %0" : : "r" (alias) : "memory");
	dsb(ish);
	asm volatile("ic ivau, %0" : : "r" (addr) : "memory");
	dsb(ish);
	isb();
}
NOKPROBE_SYMBOL(ksplice_arch_poke_alias);

/* Whether a landing pad of "br x16" is at @dest (BTI). */
static bool bti_landing_pad(unsigned long dest)
{
	u32 insn;

	if (copy_from_kernel_nofault(&insn, (void *)dest, sizeof(insn)))
		return false;
	insn = le32_to_cpu((__force __le32)insn);
	return insn == A64_BTI_C || insn == A64_BTI_J || insn == A64_BTI_JC ||
	       insn == A64_PACIASP || insn == A64_PACIBSP;
}

/*
 * A window at load (ksplice_core.c): whole instructions, the 4 bytes of
 * "b" or the 12 of "adrp; add; br", as the generator makes them. The text
 * code writes words and counts the words after the first.
 */
int ksplice_arch_check_window(const struct ksplice_site *s)
{
	if (s->offset % 4 || (s->len != 4 && s->len != A64_LONG_JUMP))
		return -EINVAL;
	return 0;
}

/**
 * ksplice_arch_jump - the direct jump from @site to @dest
 * @site:	the window, in the old function
 * @dest:	where it lands, in the replacement
 * @room:	the window's length: 4, or 12 where create found room for
 *		the long form
 * @force_long:	tests only: the long form where it fits, even where "b"
 *		reaches
 * @buf:	the jump's bytes
 * @why:	why not, when no jump fits
 *
 * "b dest" (4 bytes) when it reaches (+-128 MiB); else, in a 12-byte
 * window, "adrp x16, dest; add x16, x16, :lo12:dest; br x16" (+-4 GiB),
 * the shape of the kernel's own module PLT entries: x16 (IP0) is free at
 * a function's entry by the procedure call standard, which lets linker
 * veneers clobber it between a call and its target. The long form is
 * refused where the kernel uses pseudo-NMIs (its three words cannot
 * change atomically, and an NMI cannot be held off while they do), where
 * the kernel has SDEI but the engine cannot mask it, and where BTI guards kernel text and @dest is no landing pad of "br x16".
 *
 * Returns the jump's length, -ERANGE when nothing that fits reaches,
 * -EOPNOTSUPP when the long form is refused (@why says which).
 */
int ksplice_arch_jump(unsigned long site, unsigned long dest, u32 room,
		      bool force_long, u8 *buf, const char **why)
{
	s64 rel = (s64)(dest - site);
	/* adrp counts 4 KiB pages, whatever the kernel's page size. */
	s64 pages = ((s64)(dest & ~0xfffUL) - (s64)(site & ~0xfffUL)) >> 12;

	*why = "";
	if (site % 4 || dest % 4) {
		*why = " (misaligned)";
		return -ERANGE;
	}
	if (rel >= -SZ_128M && rel < SZ_128M &&
	    (!force_long || room < A64_LONG_JUMP)) {
		put_unaligned_le32(A64_B | ((rel >> 2) & A64_IMM26), buf);
		return 4;
	}
	if (room < A64_LONG_JUMP) {
		*why = ": b reaches +-128 MiB, and the function has no room for adrp/add/br (see create's window)";
		return -ERANGE;
	}
	if (!fits(pages, 21)) {
		*why = ": adrp reaches +-4 GiB";
		return -ERANGE;
	}
	if (IS_ENABLED(CONFIG_ARM64_PSEUDO_NMI) &&
	    system_uses_irq_prio_masking()) {
		*why = ": the kernel uses pseudo-NMIs, which could run the function between the three words of adrp/add/br";
		return -EOPNOTSUPP;
	}
	/*
	 * A kernel that can take SDEI events, whose mask this engine did
	 * not find: nothing would hold them off between the words.
	 */
	if (IS_ENABLED(CONFIG_ARM_SDE_INTERFACE) && !sdei_mask_fn) {
		*why = ": the kernel has SDEI (firmware NMI-like events) and sdei_mask_local_cpu is not in kallsyms, so nothing would hold an event off between the three words of adrp/add/br";
		return -EOPNOTSUPP;
	}
	if (IS_ENABLED(CONFIG_ARM64_BTI_KERNEL) && system_supports_bti() &&
	    !bti_landing_pad(dest)) {
		*why = ": BTI guards kernel text and the replacement has no landing pad of br x16 (bti c, bti j, bti jc, paciasp, pacibsp) where the jump lands";
		return -EOPNOTSUPP;
	}
	put_unaligned_le32(A64_ADRP_X16 | ((pages & 3) << 29) |
			   (((pages >> 2) << 5) & 0x00ffffe0), buf);
	put_unaligned_le32(A64_ADD_X16 | ((dest & 0xfff) << 10), buf + 4);
	put_unaligned_le32(A64_BR_X16, buf + 8);
	return A64_LONG_JUMP;
}

/*
 * Every CPU of a round that writes a jump of several words, in the
 * stop_machine callback with interrupts off: mask SDEI events, the one
 * NMI-like entry into kernel code Debian's arm64 kernels have (pseudo-NMIs
 * refuse the long form, in ksplice_arch_jump()). Debug exceptions cannot
 * come from the window: the engine refused any kprobe in it. Returns 0,
 * or the firmware's error: the caller writes nothing then.
 *
 * Unmasking after the round restores what was there: with the firmware
 * interface working, the kernel masks an online CPU only around a
 * low-power state (cpu_pm, which a CPU in this callback is not in), for
 * system suspend and reboot (no user task runs to ask for a round), and
 * while the CPU goes offline (the hotplug lock, held for the round,
 * excludes it); once the interface is marked broken, both calls do
 * nothing and return 0.
 */
int ksplice_arch_mask_nmi(void)
{
	return sdei_mask_fn ? sdei_mask_fn() : 0;
}

void ksplice_arch_unmask_nmi(void)
{
	if (sdei_unmask_fn)
		sdei_unmask_fn();
}

/*
 * Nothing arm64-specific is rewritten at run time beyond what the caller
 * checks (jump labels, static calls, kprobes): alternatives are applied
 * at boot and at module load only.
 */
const char *ksplice_arch_text_reserved(void *start, void *end)
{
	return NULL;
}

/*
 * After stop_machine: an IPI to every CPU, whose exception entry and
 * return are context synchronisation events, so that no CPU keeps
 * instructions fetched before the write (the pair of the caches'
 * invalidation in aarch64_insn_patch_text_nosync()).
 */
void ksplice_arch_sync(void)
{
	kick_all_cpus_sync();
}

/* The stack pointer cpu_switch_to() saved for a task that is not running. */
unsigned long ksplice_arch_saved_sp(struct task_struct *t)
{
	return thread_saved_sp(t);
}

/*
 * A word of a stack as a code address: return addresses saved by code
 * built with pointer authentication (paciasp) carry a PAC in the bits
 * above the virtual address, where a kernel address has ones. The kernel's
 * own ptrauth_strip_insn_pac() reads vabits_actual, which modules cannot;
 * VA_BITS_MIN is at most that, and the bits in between are ones in every
 * kernel text and module address.
 */
unsigned long ksplice_arch_code_addr(unsigned long word)
{
	if (word & BIT_ULL(55))
		word |= GENMASK_ULL(63, VA_BITS_MIN);
	return word;
}
