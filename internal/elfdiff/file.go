package elfdiff

import (
	"debug/elf"
	"fmt"

	"github.com/ksplice-go/ksplice/internal/arch"
)

// File is a relocatable object as elfdiff sees it: sections, symbols,
// relocations resolved to symbolic targets, and the functions and data
// objects the object defines with everything attached to them.
type File struct {
	Path string // as given to Open; empty for NewFile
	Arch *arch.Arch

	// Sections and Symbols are indexed by their ELF index; index 0 is nil.
	Sections []*Section
	Symbols  []*Symbol

	// Functions are the defined STT_FUNC symbols, Objects the STT_OBJECT
	// symbols of data sections, both in section, then address order.
	Functions []*Function
	Objects   []*Object

	// Special lists the special sections (see SpecialSections) present,
	// with their entries.
	Special []*Special

	// Unattached lists special-section entries that belong to no function
	// of this object (for example an __ex_table entry of toplevel asm).
	Unattached []*Entry

	// altPieces maps each replacement in .altinstr_replacement (section,
	// offset) to its length (see indexAltPieces).
	altPieces map[*Section]map[int64]int64
}

// SectionKind classifies a section by what elfdiff does with it.
type SectionKind int

const (
	KindOther   SectionKind = iota // allocated, not known: see Diff's unknown-section rule
	KindText                       // executable code
	KindData                       // .data*, .rodata*, .bss* and their __init variants
	KindStrings                    // SHF_MERGE|SHF_STRINGS literal pools
	KindSpecial                    // one of SpecialSections
	KindFtrace                     // __mcount_loc, __patchable_function_entries (padding records too)
	KindDiscard                    // .discard.*: dropped by the kernel's linker script
	KindMeta                       // not allocated: symbols, strings, debug info, notes
	KindAuthor                     // written by the author macros (authored.go): read, never compared
)

var sectionKindNames = [...]string{"other", "text", "data", "strings", "special", "ftrace", "discard", "meta", "author"}

func (k SectionKind) String() string { return sectionKindNames[k] }

// Section is one ELF section.
type Section struct {
	Index     int
	Name      string
	Type      elf.SectionType
	Flags     elf.SectionFlag
	Size      uint64
	Addralign uint64
	Entsize   uint64
	Link      uint32
	Info      uint32
	Kind      SectionKind

	// Data is the contents, nil for SHT_NOBITS and for sections elfdiff
	// does not need (debug information, notes).
	Data []byte
	// Relocs are the relocations applied to this section, by offset.
	Relocs []Reloc
	// Sym is the section's STT_SECTION symbol, if it has one.
	Sym *Symbol
	// Defs are the function and object symbols defined in the section, by
	// value.
	Defs []*Symbol

	entries []*Entry // of a special section, by offset
}

// Init reports whether the section is freed after boot or only used at
// module unload (.init.*, .exit.*).
func (s *Section) Init() bool {
	return hasAnyPrefix(s.Name, ".init.", ".exit.", ".meminit.", ".head.text")
}

// Writable reports whether the section is writable at run time.
func (s *Section) Writable() bool { return s.Flags&elf.SHF_WRITE != 0 }

// AnonymousReadOnly reports whether the section holds read-only data that
// no symbol names: jump tables (.rodata.FUNC), constant pools
// (.rodata.cst16 and its .LC labels), string literals. The running kernel
// has no name for such data, and nothing can tell a copy from it.
func (s *Section) AnonymousReadOnly() bool {
	return (s.Kind == KindData || s.Kind == KindStrings) && !s.Writable() &&
		s.Type != elf.SHT_NOBITS && len(s.Defs) == 0 && !s.Init()
}

// Symbol is one ELF symbol.
type Symbol struct {
	Index   int
	Name    string
	Type    elf.SymType
	Bind    elf.SymBind
	Section *Section // nil when undefined, absolute or common
	Shndx   elf.SectionIndex
	Value   uint64
	Size    uint64

	fn  *Function
	obj *Object
}

// Defined reports whether the symbol is defined in this object.
func (s *Symbol) Defined() bool { return s != nil && s.Section != nil }

// Function returns the function the symbol names, or nil. It is nil-safe:
// relocations of type NONE may have no symbol.
func (s *Symbol) Function() *Function {
	if s == nil {
		return nil
	}
	return s.fn
}

// Object returns the data object the symbol names, or nil (nil-safe).
func (s *Symbol) Object() *Object {
	if s == nil {
		return nil
	}
	return s.obj
}

// Reloc is one relocation, with its offset relative to the start of
// whatever holds it (a section, a function, an object or an entry).
type Reloc struct {
	Offset uint64
	Type   uint32
	Info   arch.RelocInfo
	Sym    *Symbol // nil for symbol index 0
	Addend int64
	// Target is what the relocation points at, after the instruction's
	// PC bias is accounted for.
	Target Target
}

// Target is a symbolic relocation target.
type Target struct {
	// Sym is the function or object containing the target, or, when none
	// does, the symbol the relocation names (a section symbol for
	// anonymous data and literal pools, or an undefined symbol).
	Sym *Symbol
	// Off is the offset of the target from Sym.
	Off int64
	// String is the NUL-terminated string at the target when it lies in a
	// string literal pool (IsString).
	String   string
	IsString bool
}

// Function is a function defined by the object.
type Function struct {
	Name    string
	Sym     *Symbol
	Section *Section
	Offset  uint64 // in Section
	Size    uint64
	Code    []byte  // Size bytes of Section.Data
	Relocs  []Reloc // offsets relative to the function
	// FtraceSite is the offset from the symbol at which the function's
	// record in the architecture's ftrace section points, NoFtraceSite if
	// it has none (notrace). It is negative when the record points into
	// the function's Prefix (arm64 CALL_OPS: -8, the ops slot; ftrace
	// finds its call site from there).
	FtraceSite int64
	// Prefix is the number of bytes before Offset that belong to the
	// function: the padding gcc's -fpatchable-function-entry=N,M puts
	// before the symbol, whose __patchable_function_entries record points
	// at its start (x86-64 CALL_PADDING: 16 NOPs, where the kernel writes
	// call-depth accounting thunks at boot; arm64 CALL_OPS: two NOPs,
	// where ftrace stores an ops pointer). It is compared, carried and
	// re-recorded with the function that follows it.
	Prefix uint64
	// PrefixCode is the Prefix bytes before Code.
	PrefixCode []byte
	// PatchableSite is the offset from the symbol at which the function's
	// __patchable_function_entries record points, where that section is
	// not the architecture's ftrace section (x86-64: -Prefix);
	// NoFtraceSite if it has none.
	PatchableSite int64
	// Entries are the special-section entries anchored in this function.
	Entries []*Entry
	// Parent is the function this one was split from (.cold, .part), if
	// it is in the object; Children are the reverse.
	Parent   *Function
	Children []*Function

	file  *File
	key   string
	insns []arch.Insn
}

// NoFtraceSite is FtraceSite and PatchableSite of a function without a
// record. No record points 1 byte before a symbol: records point at
// instructions, and prefixes are whole instructions.
const NoFtraceSite int64 = -1

// HasFtraceSite reports whether the function has an ftrace record.
func (f *Function) HasFtraceSite() bool { return f.FtraceSite != NoFtraceSite }

// FtraceSiteAtEntry reports whether the function's ftrace record points at
// its entry, where the engine redirects its calls: into its prefix, or at
// most maxOff bytes into its code.
func (f *Function) FtraceSiteAtEntry(maxOff int) bool {
	return f.HasFtraceSite() && f.FtraceSite >= -int64(f.Prefix) && f.FtraceSite <= int64(maxOff)
}

// Insns returns the function's instructions, decoded once.
func (f *Function) Insns() []arch.Insn {
	if f.insns == nil {
		f.insns = f.file.Arch.Decode(f.Code)
	}
	return f.insns
}

// Object is a data object defined by the object file.
type Object struct {
	Name    string
	Sym     *Symbol
	Section *Section
	Offset  uint64
	Size    uint64
	Data    []byte // nil in SHT_NOBITS sections
	Relocs  []Reloc

	key string
}

// Initializer returns the object's initial contents: Data, or Size zero
// bytes for an object in a SHT_NOBITS section (.bss), which a changed
// initializer moves to .data and back.
func (o *Object) Initializer() []byte {
	if o.Section.Type == elf.SHT_NOBITS {
		return make([]byte, o.Size)
	}
	return o.Data
}

// Special is one kind of special section, with the entries of every
// section of that name (gcc emits one __patchable_function_entries per
// function, for example).
type Special struct {
	Name     string
	Sections []*Section
	// EntrySize was derived from the relocation pattern of the sections (or,
	// for .orc_unwind, from the number of .orc_unwind_ip entries).
	EntrySize uint64
	Entries   []*Entry
}

// Entry is one entry of a special section.
type Entry struct {
	Special *Special
	Section *Section
	Index   int    // in Special.Entries
	Offset  uint64 // in Section
	Data    []byte
	Relocs  []Reloc // offsets relative to the entry
	// Owner is the function the entry describes, Anchor the offset in it
	// (-1 for entries that describe the function as a whole, such as the
	// dynamic debug descriptors it uses).
	Owner  *Function
	Anchor int64

	nth int // among Owner's entries of the same special section
}

func (f *Function) String() string { return f.Name }

func (t Target) describe() string {
	if t.IsString {
		return fmt.Sprintf("string %q", t.String)
	}
	name := "?"
	if t.Sym != nil {
		name = t.Sym.Name
	}
	switch {
	case t.Off > 0:
		return fmt.Sprintf("%s+%#x", name, t.Off)
	case t.Off < 0:
		return fmt.Sprintf("%s-%#x", name, -t.Off)
	}
	return name
}
