package arch

import (
	"debug/elf"

	"golang.org/x/arch/x86/x86asm"
)

var x86_64 = &Arch{
	Name:                "x86_64",
	Machine:             elf.EM_X86_64,
	Debian:              "amd64",
	GOARCH:              "amd64",
	Uname:               "x86_64",
	SrcArch:             "x86",
	GNUType:             "x86_64-linux-gnu",
	Trap:                "ud2",
	FtraceSection:       "__mcount_loc",
	FtraceSiteMaxOffset: 8,
	DefaultPCBias:       4,
	pcBiased:            true,
	Abs64:               uint32(elf.R_X86_64_64),
	decode:              decodeX86,
	relocName:           func(t uint32) string { return elf.R_X86_64(t).String() },
	disasm:              disasmX86,
	branchOpcode:        branchOpcodeX86,
	jumpSiteLen:         jumpSiteLenX86,
	relocs: relocTable(
		x86(elf.R_X86_64_NONE, RelocNone, 0),
		x86(elf.R_X86_64_64, RelocAbs, 8),
		x86(elf.R_X86_64_32, RelocAbs, 4),
		x86(elf.R_X86_64_32S, RelocAbs, 4),
		x86(elf.R_X86_64_16, RelocAbs, 2),
		x86(elf.R_X86_64_8, RelocAbs, 1),
		x86(elf.R_X86_64_PC32, RelocPCRel, 4),
		x86(elf.R_X86_64_PC64, RelocPCRel, 8),
		x86(elf.R_X86_64_PC16, RelocPCRel, 2),
		x86(elf.R_X86_64_PC8, RelocPCRel, 1),
		x86(elf.R_X86_64_PLT32, RelocBranch, 4),
		x86(elf.R_X86_64_GOTPCREL, RelocPCRel, 4),
		x86(elf.R_X86_64_GOTPCRELX, RelocPCRel, 4),
		x86(elf.R_X86_64_REX_GOTPCRELX, RelocPCRel, 4),
	),
}

func x86(t elf.R_X86_64, k RelocKind, size int) relocEntry {
	return relocEntry{uint32(t), RelocInfo{t.String(), k, size}}
}

type relocEntry struct {
	typ  uint32
	info RelocInfo
}

func relocTable(es ...relocEntry) map[uint32]RelocInfo {
	m := make(map[uint32]RelocInfo, len(es))
	for _, e := range es {
		m[e.typ] = e.info
	}
	return m
}

// jumpSiteLenX86: jmp rel8 (eb) or the 2-byte nop (66 90) is 2 bytes;
// anything else is jmp rel32 or a 5-byte nop.
func jumpSiteLenX86(c []byte) int {
	if len(c) >= 1 && c[0] == 0xeb || len(c) >= 2 && c[0] == 0x66 && c[1] == 0x90 {
		return 2
	}
	return 5
}

func decodeX86(code []byte) []Insn {
	insns := make([]Insn, 0, len(code)/3)
	for off := 0; off < len(code); {
		inst, err := x86asm.Decode(code[off:], 64)
		if err != nil || inst.Len == 0 {
			insns = append(insns, Insn{Off: off, Len: 1})
			off++
			continue
		}
		in := Insn{Off: off, Len: inst.Len}
		if inst.Op == x86asm.MOV || inst.Op == x86asm.LEA {
			if r, ok := inst.Args[0].(x86asm.Reg); ok {
				in.AddrArg = argRegX86(r)
				if imm, ok := inst.Args[1].(x86asm.Imm); ok && inst.Op == x86asm.MOV {
					in.MovImm, in.Reg, in.Imm = true, int(r), int64(imm)
					in.Arg = argRegX86(r)
				}
			}
		}
		insns = append(insns, in)
		off += inst.Len
	}
	return insns
}

// argRegX86 returns the argument position of r in the SysV calling
// convention the kernel uses (1 for rdi ... 6 for r9, in any width), or 0.
func argRegX86(r x86asm.Reg) int {
	for i, regs := range [][]x86asm.Reg{
		{x86asm.DIB, x86asm.DI, x86asm.EDI, x86asm.RDI},
		{x86asm.SIB, x86asm.SI, x86asm.ESI, x86asm.RSI},
		{x86asm.DL, x86asm.DX, x86asm.EDX, x86asm.RDX},
		{x86asm.CL, x86asm.CX, x86asm.ECX, x86asm.RCX},
		{x86asm.R8B, x86asm.R8W, x86asm.R8L, x86asm.R8},
		{x86asm.R9B, x86asm.R9W, x86asm.R9L, x86asm.R9},
	} {
		for _, x := range regs {
			if r == x {
				return i + 1
			}
		}
	}
	return 0
}

// branchOpcodeX86: call/jmp rel32 (e8, e9) and jcc rel32 (0f 8x). Calls to
// local functions are R_X86_64_PC32, not PLT32, so the opcode tells.
func branchOpcodeX86(code []byte, off int) bool {
	if op := code[off-1]; op == 0xe8 || op == 0xe9 {
		return true
	}
	return off >= 2 && code[off-2] == 0x0f && code[off-1]&0xf0 == 0x80
}
