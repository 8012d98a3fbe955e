package arch

import (
	"debug/elf"
	"errors"
	"testing"

	"github.com/ksplice-go/ksplice/internal/verdict"
)

func TestFor(t *testing.T) {
	tests := []struct {
		m    elf.Machine
		name string
	}{
		{elf.EM_X86_64, "x86_64"},
		{elf.EM_AARCH64, "arm64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := For(tt.m)
			if err != nil {
				t.Fatal(err)
			}
			if a.Name != tt.name {
				t.Errorf("For(%v) = %s, want %s", tt.m, a.Name, tt.name)
			}
		})
	}
	if _, err := For(elf.EM_RISCV); !errors.Is(err, ErrUnsupportedArch) || !errors.Is(err, verdict.ErrUnsupported) {
		t.Errorf("For(EM_RISCV) = %v, want ErrUnsupportedArch", err)
	}
}

func TestReloc(t *testing.T) {
	tests := []struct {
		m    elf.Machine
		typ  uint32
		kind RelocKind
		size int
	}{
		{elf.EM_X86_64, uint32(elf.R_X86_64_PLT32), RelocBranch, 4},
		{elf.EM_X86_64, uint32(elf.R_X86_64_32S), RelocAbs, 4},
		{elf.EM_X86_64, uint32(elf.R_X86_64_PC32), RelocPCRel, 4},
		{elf.EM_AARCH64, uint32(elf.R_AARCH64_CALL26), RelocBranch, 4},
		{elf.EM_AARCH64, uint32(elf.R_AARCH64_ADR_PREL_PG_HI21), RelocPage, 4},
		{elf.EM_AARCH64, uint32(elf.R_AARCH64_ABS64), RelocAbs, 8},
	}
	for _, tt := range tests {
		a, _ := For(tt.m)
		info, err := a.Reloc(tt.typ)
		if err != nil || info.Kind != tt.kind || info.Size != tt.size {
			t.Errorf("%s: %+v, %v; want %v size %d", a.RelocName(tt.typ), info, err, tt.kind, tt.size)
		}
	}
	a, _ := For(elf.EM_X86_64)
	if _, err := a.Reloc(uint32(elf.R_X86_64_GOTOFF64)); !errors.Is(err, ErrUnsupportedReloc) {
		t.Errorf("R_X86_64_GOTOFF64: %v, want ErrUnsupportedReloc", err)
	}
}

func TestDecodeLineArgs(t *testing.T) {
	x, _ := For(elf.EM_X86_64)
	// mov $0x2a,%esi; call rel32; lea 0x0(%rip),%rdi
	code := []byte{0xbe, 0x2a, 0, 0, 0, 0xe8, 0, 0, 0, 0, 0x48, 0x8d, 0x3d, 0, 0, 0, 0}
	insns := x.Decode(code)
	if len(insns) != 3 || !insns[0].MovImm || insns[0].Imm != 42 || insns[0].Arg != 2 || insns[1].MovImm {
		t.Fatalf("x86 decode: %+v", insns)
	}
	if insns[2].AddrArg != 1 || insns[0].AddrArg != 2 || insns[1].AddrArg != 0 {
		t.Errorf("x86 address arguments: lea into rdi %d, mov into esi %d, call %d", insns[2].AddrArg, insns[0].AddrArg, insns[1].AddrArg)
	}
	// adrp x1, 0; add x1, x1, #0; add x9, x9, #0
	adr := a64For(t).Decode([]byte{0x01, 0, 0, 0x90, 0x21, 0, 0, 0x91, 0x29, 0x01, 0, 0x91})
	if adr[0].AddrArg != 2 || adr[1].AddrArg != 2 || adr[2].AddrArg != 0 {
		t.Errorf("arm64 address arguments: %+v", adr)
	}
	if b := x.PCBias(insns, 13); b != 4 {
		t.Errorf("x86 PC bias of lea's field: %d, want 4", b)
	}
	a, _ := For(elf.EM_AARCH64)
	// mov w1, #0x2a; bl 0
	insns = a.Decode([]byte{0x41, 0x05, 0x80, 0x52, 0, 0, 0, 0x94})
	if len(insns) != 2 || !insns[0].MovImm || insns[0].Imm != 42 || insns[0].Reg != 1 || insns[0].Arg != 2 || insns[1].MovImm {
		t.Fatalf("arm64 decode: %+v", insns)
	}
	if b := a.PCBias(insns, 4); b != 0 {
		t.Errorf("arm64 PC bias: %d, want 0", b)
	}
}

func TestJumpSiteLen(t *testing.T) {
	tests := []struct {
		m    elf.Machine
		code []byte
		want int
	}{
		{elf.EM_X86_64, []byte{0xeb, 0x10, 0, 0, 0}, 2},
		{elf.EM_X86_64, []byte{0x66, 0x90, 0, 0, 0}, 2},
		{elf.EM_X86_64, []byte{0xe9, 0, 0, 0, 0}, 5},
		{elf.EM_X86_64, []byte{0x0f, 0x1f, 0x44, 0x00, 0x00}, 5},
		{elf.EM_X86_64, []byte{0xe9, 0}, 0},
		{elf.EM_AARCH64, []byte{0x1f, 0x20, 0x03, 0xd5}, 4},
		{elf.EM_AARCH64, []byte{0x1f, 0x20}, 0},
	}
	for _, tt := range tests {
		a, _ := For(tt.m)
		if got := a.JumpSiteLen(tt.code); got != tt.want {
			t.Errorf("%s JumpSiteLen(% x) = %d, want %d", a.Name, tt.code, got, tt.want)
		}
	}
}

func a64For(t *testing.T) *Arch {
	t.Helper()
	a, err := For(elf.EM_AARCH64)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
