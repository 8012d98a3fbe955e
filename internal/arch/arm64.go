package arch

import (
	"debug/elf"
	"encoding/binary"
)

var arm64 = &Arch{
	Name:                "arm64",
	Machine:             elf.EM_AARCH64,
	Debian:              "arm64",
	GOARCH:              "arm64",
	Uname:               "aarch64",
	SrcArch:             "arm64",
	GNUType:             "aarch64-linux-gnu",
	Trap:                "brk #0x800", // BUG_BRK_IMM: the kernel reports it as a BUG
	FtraceSection:       "__patchable_function_entries",
	FtraceSiteMaxOffset: 8,
	Abs64:               uint32(elf.R_AARCH64_ABS64),
	// ldr x16, .+8; br x16
	BranchVeneer: []byte{0x50, 0x00, 0x00, 0x58, 0x00, 0x02, 0x1f, 0xd6},
	decode:       decodeARM64,
	relocName:    func(t uint32) string { return elf.R_AARCH64(t).String() },
	disasm:       disasmARM64,
	jumpSiteLen:  func([]byte) int { return 4 }, // b or nop
	relocs: relocTable(
		a64(elf.R_AARCH64_NONE, RelocNone, 0),
		a64(elf.R_AARCH64_ABS64, RelocAbs, 8),
		a64(elf.R_AARCH64_ABS32, RelocAbs, 4),
		a64(elf.R_AARCH64_ABS16, RelocAbs, 2),
		a64(elf.R_AARCH64_PREL64, RelocPCRel, 8),
		a64(elf.R_AARCH64_PREL32, RelocPCRel, 4),
		a64(elf.R_AARCH64_PREL16, RelocPCRel, 2),
		a64(elf.R_AARCH64_ADR_PREL_PG_HI21, RelocPage, 4),
		a64(elf.R_AARCH64_ADR_PREL_PG_HI21_NC, RelocPage, 4),
		a64(elf.R_AARCH64_ADR_PREL_LO21, RelocPCRel, 4),
		a64(elf.R_AARCH64_LD_PREL_LO19, RelocPCRel, 4),
		a64(elf.R_AARCH64_ADD_ABS_LO12_NC, RelocPageOff, 4),
		a64(elf.R_AARCH64_LDST8_ABS_LO12_NC, RelocPageOff, 4),
		a64(elf.R_AARCH64_LDST16_ABS_LO12_NC, RelocPageOff, 4),
		a64(elf.R_AARCH64_LDST32_ABS_LO12_NC, RelocPageOff, 4),
		a64(elf.R_AARCH64_LDST64_ABS_LO12_NC, RelocPageOff, 4),
		a64(elf.R_AARCH64_LDST128_ABS_LO12_NC, RelocPageOff, 4),
		a64(elf.R_AARCH64_JUMP26, RelocBranch, 4),
		a64(elf.R_AARCH64_CALL26, RelocBranch, 4),
		a64(elf.R_AARCH64_CONDBR19, RelocBranch, 4),
		a64(elf.R_AARCH64_TSTBR14, RelocBranch, 4),
		a64(elf.R_AARCH64_MOVW_UABS_G0, RelocAbs, 4),
		a64(elf.R_AARCH64_MOVW_UABS_G0_NC, RelocAbs, 4),
		a64(elf.R_AARCH64_MOVW_UABS_G1, RelocAbs, 4),
		a64(elf.R_AARCH64_MOVW_UABS_G1_NC, RelocAbs, 4),
		a64(elf.R_AARCH64_MOVW_UABS_G2, RelocAbs, 4),
		a64(elf.R_AARCH64_MOVW_UABS_G2_NC, RelocAbs, 4),
		a64(elf.R_AARCH64_MOVW_UABS_G3, RelocAbs, 4),
	),
}

func a64(t elf.R_AARCH64, k RelocKind, size int) relocEntry {
	return relocEntry{uint32(t), RelocInfo{t.String(), k, size}}
}

// decodeARM64 splits code into 4-byte instructions and recognizes the moves
// of a 16-bit immediate (MOVZ, MOVN) that carry __LINE__ arguments.
func decodeARM64(code []byte) []Insn {
	insns := make([]Insn, 0, len(code)/4+1)
	off := 0
	for ; off+4 <= len(code); off += 4 {
		w := binary.LittleEndian.Uint32(code[off:])
		in := Insn{Off: off, Len: 4}
		// MOVZ/MOVN, 32- or 64-bit: sf opc 100101 hw imm16 Rd.
		switch w & 0x7f800000 {
		case 0x52800000: // MOVZ
			in.MovImm, in.Reg = true, int(w&31)
			in.Imm = int64((w>>5)&0xffff) << (16 * ((w >> 21) & 3))
		case 0x12800000: // MOVN
			in.MovImm, in.Reg = true, int(w&31)
			in.Imm = ^(int64((w>>5)&0xffff) << (16 * ((w >> 21) & 3)))
		}
		if in.MovImm && in.Reg < 8 {
			in.Arg = in.Reg + 1 // x0-x7 pass the first eight arguments
		}
		// ADRP, ADR (op 1 00 / 0 00 10000) and ADD (immediate), either width.
		if rd := int(w & 31); rd < 8 && (w&0x1f000000 == 0x10000000 || w&0x7f800000 == 0x11000000) {
			in.AddrArg = rd + 1
		}
		insns = append(insns, in)
	}
	for ; off < len(code); off++ {
		insns = append(insns, Insn{Off: off, Len: 1})
	}
	return insns
}
