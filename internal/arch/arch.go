package arch

import (
	"debug/elf"
	"fmt"

	"github.com/ksplice-go/ksplice/internal/verdict"
)

var (
	// ErrUnsupportedArch means the ELF machine is not one ksplice handles.
	// It wraps verdict.ErrUnsupported.
	ErrUnsupportedArch = fmt.Errorf("architecture %w", verdict.ErrUnsupported)

	// ErrUnsupportedReloc means a relocation type is not one ksplice knows
	// how to compare or apply. It wraps verdict.ErrUnsupported: a patcher
	// must not skip what it does not understand.
	ErrUnsupportedReloc = fmt.Errorf("relocation type %w", verdict.ErrUnsupported)
)

// RelocKind says what a relocation computes, independently of architecture.
type RelocKind int

const (
	// RelocNone does nothing (R_X86_64_NONE): objtool turns patched-out
	// static-key jumps into these; the bytes under them are real code.
	RelocNone RelocKind = iota
	// RelocAbs stores an absolute address (S + A), or part of one.
	RelocAbs
	// RelocPCRel stores a PC-relative displacement to data or code (S + A - P).
	RelocPCRel
	// RelocBranch is a PC-relative call or jump (S + A - P).
	RelocBranch
	// RelocPage stores the distance between 4 KiB pages (AArch64 ADRP).
	RelocPage
	// RelocPageOff stores the low 12 bits of an absolute address (AArch64
	// :lo12:), paired with a RelocPage.
	RelocPageOff
)

var kindNames = [...]string{"none", "abs", "pcrel", "branch", "page", "pageoff"}

func (k RelocKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("RelocKind(%d)", int(k))
}

// RelocInfo describes one relocation type.
type RelocInfo struct {
	Name string    // the ELF name, e.g. "R_X86_64_PLT32"
	Kind RelocKind // what it computes
	Size int       // bytes of the field it writes (0 for RelocNone)
}

// Insn is one decoded instruction.
type Insn struct {
	Off, Len int
	// MovImm is set for a move of an immediate into a register (x86 "mov
	// $imm, %reg", AArch64 "movz/movn"), the form in which a __LINE__
	// argument is passed. Reg and Imm are then the register and the value.
	MovImm bool
	Reg    int
	Imm    int64
	// Arg is, for MovImm, the position (1-based) of Reg among the integer
	// argument registers of the kernel's calling convention (x86-64: rdi,
	// rsi, rdx, rcx, r8, r9 in any width; arm64: x0-x7/w0-w7), or 0 when
	// Reg passes no argument.
	Arg int
	// AddrArg is the argument position, as Arg, of the register that an
	// instruction computing an address writes (x86-64: mov $imm or lea
	// into a register; arm64: adrp, adr, add of an immediate), or 0: how a
	// pointer argument such as __FILE__ or __func__ is passed.
	AddrArg int
}

// Arch is what ksplice knows about one architecture.
type Arch struct {
	// Name is the name used in reports and in Debian kernel flavours'
	// spirit: "x86_64" or "arm64".
	Name    string
	Machine elf.Machine

	// Names of the architecture in the tools around the kernel.
	Debian  string // Debian's architecture: "amd64", "arm64"
	GOARCH  string // Go's, for the ksplice binary that runs on it
	Uname   string // the kernel's, as uname -m prints it: "x86_64", "aarch64"
	SrcArch string // Kbuild's ARCH= and SRCARCH: "x86", "arm64"
	GNUType string // the GNU triplet of Debian's toolchain: "x86_64-linux-gnu"

	// Trap is the assembly of an instruction that traps, written where
	// code must never run (x86-64: ud2; arm64: brk).
	Trap string

	// FtraceSection is the section in which the compiler records ftrace
	// call sites, one pointer per function: "__mcount_loc" (x86-64,
	// -mrecord-mcount) or "__patchable_function_entries" (arm64).
	FtraceSection string
	// FtraceSiteMaxOffset is how far into a function its ftrace site may
	// be for the engine to redirect the function's calls there, as the
	// engine's ftrace_location() lookup allows (x86-64: +0, or +4 after an
	// endbr64; arm64: +0). A record pointing into the function's prefix,
	// before its symbol (arm64 CALL_OPS: -8, the ops slot), is at its
	// entry too (elfdiff.Function.FtraceSiteAtEntry).
	FtraceSiteMaxOffset int

	// BranchVeneer is the code of a veneer that jumps to the 64-bit address
	// stored right after it (at offset len(BranchVeneer)), for calls from
	// an update module to kernel code beyond a direct branch's reach
	// (arm64: modules lie up to 2 GiB from the kernel's text, "bl" reaches
	// 128 MiB). Nil where a direct branch reaches every target (x86-64:
	// rel32 covers the +-2 GiB of the kernel's code model).
	BranchVeneer []byte
	// Abs64 is the relocation type of a 64-bit absolute address
	// (R_X86_64_64, R_AARCH64_ABS64).
	Abs64 uint32

	// DefaultPCBias is the distance from a PC-relative field to the end of
	// its instruction when the instruction cannot be decoded (x86-64: 4).
	DefaultPCBias int

	relocs map[uint32]RelocInfo
	decode func(code []byte) []Insn
	// relocName names a relocation type that the table does not list.
	relocName func(typ uint32) string
	// disasm renders one decoded instruction; "" when it does not decode.
	disasm func(b []byte, off int) string
	// branchOpcode reports whether the relocated field at off of code is
	// the operand of a direct call or jump whatever its relocation type.
	branchOpcode func(code []byte, off int) bool
	// jumpSiteLen is the length of a static branch (jump label) site
	// starting at code[0].
	jumpSiteLen func(code []byte) int
	// pcBiased reports whether a PC-relative field in code is relative to
	// the end of its instruction (x86) rather than to the field (arm64).
	pcBiased bool
}

// all lists every architecture ksplice handles.
var all = []*Arch{x86_64, arm64}

// For returns the Arch of an ELF machine. The error wraps
// ErrUnsupportedArch for machines other than x86-64 and AArch64.
func For(m elf.Machine) (*Arch, error) {
	for _, a := range all {
		if a.Machine == m {
			return a, nil
		}
	}
	return nil, fmt.Errorf("%w: %v", ErrUnsupportedArch, m)
}

// ByName returns the Arch that any of its names denotes: Debian's
// ("amd64"), the kernel's uname ("x86_64", "aarch64"), Go's or ksplice's
// own. The error wraps ErrUnsupportedArch.
func ByName(name string) (*Arch, error) {
	for _, a := range all {
		if name == a.Name || name == a.Debian || name == a.Uname || name == a.GOARCH {
			return a, nil
		}
	}
	return nil, fmt.Errorf("%w: %q (ksplice handles amd64 and arm64)", ErrUnsupportedArch, name)
}

// All returns every architecture ksplice handles.
func All() []*Arch { return append([]*Arch(nil), all...) }

// Reloc returns what relocation type typ computes. The error wraps
// ErrUnsupportedReloc for a type this architecture's table does not list.
func (a *Arch) Reloc(typ uint32) (RelocInfo, error) {
	if info, ok := a.relocs[typ]; ok {
		return info, nil
	}
	return RelocInfo{}, fmt.Errorf("%w: %s type %d", ErrUnsupportedReloc, a.Name, typ)
}

// RelocName returns the ELF name of relocation type typ, known or not.
func (a *Arch) RelocName(typ uint32) string {
	if info, ok := a.relocs[typ]; ok {
		return info.Name
	}
	return a.relocName(typ)
}

// Decode decodes code linearly from its start. Bytes that do not decode
// become one-byte instructions, so the result always covers all of code.
func (a *Arch) Decode(code []byte) []Insn {
	return a.decode(code)
}

// PCBias returns how far a PC-relative field at offset off of code lies
// before the point its displacement is relative to: on x86-64 the end of
// the instruction (usually 4, more when an immediate follows), on arm64 0.
// insns is the result of Decode(code).
func (a *Arch) PCBias(insns []Insn, off int) int {
	if !a.pcBiased {
		return 0
	}
	if in, ok := Containing(insns, off); ok {
		if end := in.Off + in.Len; end > off {
			return end - off
		}
	}
	return a.DefaultPCBias
}

// JumpSiteLen returns the length of the static branch (jump label) that
// starts at code[0], in either of its forms: the jump or the nop that
// replaces it. x86-64: 2 (jmp rel8, 2-byte nop) or 5 (jmp rel32, 5-byte
// nop); arm64: 4. Returns 0 when code is too short for one.
func (a *Arch) JumpSiteLen(code []byte) int {
	n := a.jumpSiteLen(code)
	if n > len(code) {
		return 0
	}
	return n
}

// Containing returns the instruction of insns (sorted, as Decode returns
// them) that contains byte off.
func Containing(insns []Insn, off int) (Insn, bool) {
	lo, hi := 0, len(insns)
	for lo < hi {
		m := (lo + hi) / 2
		if insns[m].Off+insns[m].Len <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(insns) && insns[lo].Off <= off {
		return insns[lo], true
	}
	return Insn{}, false
}

// BranchField reports whether the relocated field at off in code is the
// target of a direct call or jump (x86-64: e8/e9 rel32, 0f 8x jcc rel32;
// arm64: relocations of the branch kind), whatever relocation type the
// compiler chose for it (calls to local functions are R_X86_64_PC32).
func (a *Arch) BranchField(code []byte, off int, kind RelocKind) bool {
	if kind == RelocBranch {
		return true
	}
	if off < 1 || off > len(code) || a.branchOpcode == nil {
		return false
	}
	return a.branchOpcode(code, off)
}
