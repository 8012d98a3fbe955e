package elfdiff

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/ksplice-go/ksplice/internal/arch"
)

// maxObjectSize bounds what NewFile reads: kernel objects are a few MiB.
const maxObjectSize = 1 << 30

// Open reads the relocatable object at path. See NewFile for the errors.
func Open(path string) (*File, error) {
	fd, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return nil, err
	}
	f, err := NewFile(io.NewSectionReader(fd, 0, st.Size()))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.Path = path
	return f, nil
}

// NewFile reads a relocatable object from r. It never panics on hostile
// input: errors wrap ErrMalformed (bad ELF), ErrNotRelocatable (ELF, but
// not a 64-bit little-endian ET_REL object), ErrUnsupportedArch or
// ErrUnsupportedReloc.
func NewFile(r io.ReaderAt) (f *File, err error) {
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, &FormatError{Msg: fmt.Sprintf("debug/elf: %v", p)}
		}
	}()
	data, err := readAll(r)
	if err != nil {
		return nil, err
	}
	ef, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, &FormatError{Msg: strings.TrimPrefix(err.Error(), "elf: ")}
	}
	return load(ef, data)
}

// readAll reads r whole: through its Size method when it has one, else up to
// maxObjectSize bytes.
func readAll(r io.ReaderAt) ([]byte, error) {
	if s, ok := r.(interface{ Size() int64 }); ok {
		n := s.Size()
		if n < 0 || n > maxObjectSize {
			return nil, &FormatError{Msg: fmt.Sprintf("size %d out of range", n)}
		}
		buf := make([]byte, n)
		if _, err := r.ReadAt(buf, 0); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		return buf, nil
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(io.LimitReader(io.NewSectionReader(r, 0, maxObjectSize+1), maxObjectSize+1)); err != nil {
		return nil, err
	}
	if buf.Len() > maxObjectSize {
		return nil, &FormatError{Msg: "larger than 1 GiB"}
	}
	return buf.Bytes(), nil
}

func load(ef *elf.File, data []byte) (*File, error) {
	if ef.Class != elf.ELFCLASS64 || ef.Data != elf.ELFDATA2LSB || ef.Type != elf.ET_REL {
		return nil, fmt.Errorf("%w: %v %v %v", ErrNotRelocatable, ef.Class, ef.Data, ef.Type)
	}
	a, err := arch.For(ef.Machine)
	if err != nil {
		return nil, err
	}
	f := &File{Arch: a}
	if err := f.loadSections(ef, data); err != nil {
		return nil, err
	}
	if err := f.loadSymbols(ef); err != nil {
		return nil, err
	}
	if err := f.loadRelocs(); err != nil {
		return nil, err
	}
	if err := f.defineAll(); err != nil {
		return nil, err
	}
	if err := f.loadFtrace(); err != nil {
		return nil, err
	}
	if err := f.loadSpecial(); err != nil {
		return nil, err
	}
	f.linkChildren()
	return f, nil
}

func (f *File) loadSections(ef *elf.File, data []byte) error {
	f.Sections = make([]*Section, len(ef.Sections))
	for i, es := range ef.Sections {
		if i == 0 {
			continue
		}
		s := &Section{
			Index: i, Name: es.Name, Type: es.Type, Flags: es.Flags, Size: es.Size,
			Addralign: es.Addralign, Entsize: es.Entsize, Link: es.Link, Info: es.Info,
		}
		s.Kind = classify(s, f.Arch)
		f.Sections[i] = s
		if es.Type == elf.SHT_NOBITS || s.Kind == KindMeta && es.Type != elf.SHT_RELA {
			continue
		}
		if es.Type == elf.SHT_RELA && es.Info < uint32(len(ef.Sections)) && ef.Sections[es.Info].Flags&elf.SHF_ALLOC == 0 {
			continue // relocations of debug information
		}
		if es.Offset > uint64(len(data)) || es.Size > uint64(len(data))-es.Offset {
			return &FormatError{Section: es.Name, Msg: fmt.Sprintf("offset %#x size %#x beyond end of file (%#x)", es.Offset, es.Size, len(data))}
		}
		if es.Flags&elf.SHF_COMPRESSED != 0 {
			return &FormatError{Section: es.Name, Msg: "compressed allocated section"}
		}
		s.Data = data[es.Offset : es.Offset+es.Size : es.Offset+es.Size]
	}
	return nil
}

// classify decides a section's kind from its name, type and flags.
func classify(s *Section, a *arch.Arch) SectionKind {
	switch {
	case s.Flags&elf.SHF_ALLOC == 0, s.Type == elf.SHT_NOTE:
		return KindMeta
	case strings.HasPrefix(s.Name, ".discard"):
		return KindDiscard
	case s.Name == a.FtraceSection, s.Name == PatchableSection:
		return KindFtrace
	case isSpecial(s.Name):
		return KindSpecial
	case isAuthored(s.Name):
		return KindAuthor
	case s.Flags&elf.SHF_EXECINSTR != 0:
		return KindText
	case s.Flags&elf.SHF_MERGE != 0 && s.Flags&elf.SHF_STRINGS != 0:
		return KindStrings
	case hasAnyPrefix(s.Name, ".data", ".rodata", ".bss", ".tdata", ".tbss",
		".init.data", ".init.rodata", ".init.bss", ".exit.data", ".ref.data", ".meminit.data"):
		return KindData
	}
	return KindOther
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (f *File) loadSymbols(ef *elf.File) error {
	syms, err := ef.Symbols()
	if err != nil {
		if errors.Is(err, elf.ErrNoSymbols) {
			return &FormatError{Msg: "no symbol table"}
		}
		return &FormatError{Section: ".symtab", Msg: strings.TrimPrefix(err.Error(), "elf: ")}
	}
	f.Symbols = make([]*Symbol, len(syms)+1)
	for i, es := range syms {
		s := &Symbol{
			Index: i + 1, Name: es.Name, Type: elf.ST_TYPE(es.Info), Bind: elf.ST_BIND(es.Info),
			Shndx: es.Section, Value: es.Value, Size: es.Size,
		}
		if es.Section > elf.SHN_UNDEF && es.Section < elf.SHN_LORESERVE {
			if int(es.Section) >= len(f.Sections) {
				return &FormatError{Section: ".symtab", Msg: fmt.Sprintf("symbol %q in section %d of %d", es.Name, es.Section, len(f.Sections))}
			}
			s.Section = f.Sections[es.Section]
			if s.Value > s.Section.Size || s.Size > s.Section.Size-s.Value {
				return &FormatError{Section: ".symtab", Msg: fmt.Sprintf("symbol %q (%#x+%#x) outside section %s (%#x)", es.Name, s.Value, s.Size, s.Section.Name, s.Section.Size)}
			}
		}
		if s.Type == elf.STT_SECTION && s.Section != nil {
			s.Name = s.Section.Name
			if s.Section.Sym == nil {
				s.Section.Sym = s
			}
		}
		f.Symbols[i+1] = s
	}
	return nil
}

const relaSize = 24 // Elf64_Rela

func (f *File) loadRelocs() error {
	for _, rs := range f.Sections {
		if rs == nil {
			continue
		}
		if rs.Type == elf.SHT_REL {
			return &FormatError{Section: rs.Name, Msg: "SHT_REL relocations (without addends) are not used on x86-64 or arm64"}
		}
		if rs.Type != elf.SHT_RELA || rs.Data == nil {
			continue
		}
		info := f.relaInfo(rs)
		if info == nil {
			return &FormatError{Section: rs.Name, Msg: "relocations for a section that does not exist"}
		}
		if len(rs.Data)%relaSize != 0 {
			return &FormatError{Section: rs.Name, Msg: fmt.Sprintf("size %#x is not a multiple of %d", len(rs.Data), relaSize)}
		}
		relocs := make([]Reloc, 0, len(rs.Data)/relaSize)
		for p := 0; p < len(rs.Data); p += relaSize {
			off := binary.LittleEndian.Uint64(rs.Data[p:])
			rinfo := binary.LittleEndian.Uint64(rs.Data[p+8:])
			r := Reloc{Offset: off, Type: uint32(rinfo), Addend: int64(binary.LittleEndian.Uint64(rs.Data[p+16:]))}
			ri, err := f.Arch.Reloc(r.Type)
			if err != nil {
				return &RelocError{Section: info.Name, Offset: off, Type: f.Arch.RelocName(r.Type), Err: err}
			}
			r.Info = ri
			symIdx := rinfo >> 32
			if symIdx >= uint64(len(f.Symbols)) {
				return &RelocError{Section: info.Name, Offset: off, Type: ri.Name, Err: &FormatError{Section: rs.Name, Msg: fmt.Sprintf("symbol index %d of %d", symIdx, len(f.Symbols))}}
			}
			if symIdx != 0 {
				r.Sym = f.Symbols[symIdx]
			} else if ri.Kind != arch.RelocNone {
				return &RelocError{Section: info.Name, Offset: off, Type: ri.Name, Err: &FormatError{Section: rs.Name, Msg: "no symbol"}}
			}
			if off > info.Size || uint64(ri.Size) > info.Size-off {
				return &RelocError{Section: info.Name, Offset: off, Type: ri.Name, Err: &FormatError{Section: rs.Name, Msg: "outside its section"}}
			}
			relocs = append(relocs, r)
		}
		slices.SortStableFunc(relocs, func(a, b Reloc) int { return cmpU64(a.Offset, b.Offset) })
		info.Relocs = append(info.Relocs, relocs...)
	}
	return nil
}

func (f *File) relaInfo(rs *Section) *Section {
	if rs.Info == 0 || int(rs.Info) >= len(f.Sections) {
		return nil
	}
	return f.Sections[rs.Info]
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
