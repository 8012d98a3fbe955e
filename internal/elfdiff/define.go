package elfdiff

import (
	"debug/elf"
	"fmt"
	"slices"

	"github.com/ksplice-go/ksplice/internal/arch"
)

// defineAll builds the functions and data objects and resolves their
// relocations to symbolic targets.
func (f *File) defineAll() error {
	for _, s := range f.Symbols[1:] {
		if s.Section == nil || (s.Type != elf.STT_FUNC && s.Type != elf.STT_OBJECT) {
			continue
		}
		s.Section.Defs = append(s.Section.Defs, s)
	}
	for _, sec := range f.Sections[1:] {
		slices.SortStableFunc(sec.Defs, func(a, b *Symbol) int { return cmpU64(a.Value, b.Value) })
	}
	for _, sec := range f.Sections[1:] {
		for i, s := range sec.Defs {
			size := s.Size
			if size == 0 && s.Type == elf.STT_FUNC {
				// An assembly label without .size: up to the next definition.
				end := sec.Size
				if i+1 < len(sec.Defs) {
					end = sec.Defs[i+1].Value
				}
				size = end - s.Value
			}
			switch {
			case s.Type == elf.STT_FUNC && sec.Kind == KindText:
				fn := &Function{Name: s.Name, Sym: s, Section: sec, Offset: s.Value, Size: size,
					FtraceSite: NoFtraceSite, PatchableSite: NoFtraceSite, file: f, key: normalize(s.Name)}
				if sec.Data != nil {
					fn.Code = sec.Data[s.Value : s.Value+size]
				}
				s.fn = fn
				f.Functions = append(f.Functions, fn)
			case s.Type == elf.STT_OBJECT && sec.Kind == KindData:
				obj := &Object{Name: s.Name, Sym: s, Section: sec, Offset: s.Value, Size: size, key: normalize(s.Name)}
				if sec.Data != nil {
					obj.Data = sec.Data[s.Value : s.Value+size]
				}
				s.obj = obj
				f.Objects = append(f.Objects, obj)
			}
		}
	}
	for _, fn := range f.Functions {
		fn.Relocs = f.resolve(fn.Section, fn.Offset, fn.Size, fn)
	}
	for _, obj := range f.Objects {
		obj.Relocs = f.resolve(obj.Section, obj.Offset, obj.Size, nil)
	}
	return nil
}

// relocsIn returns the relocations of sec in [off, off+size).
func relocsIn(sec *Section, off, size uint64) []Reloc {
	lo, _ := slices.BinarySearchFunc(sec.Relocs, off, func(r Reloc, o uint64) int { return cmpU64(r.Offset, o) })
	hi, _ := slices.BinarySearchFunc(sec.Relocs, off+size, func(r Reloc, o uint64) int { return cmpU64(r.Offset, o) })
	return sec.Relocs[lo:hi]
}

// resolve copies the relocations of sec in [off, off+size), rebased to off,
// and resolves their targets. code is the function they belong to, whose
// instructions give the PC bias of PC-relative fields; nil for data.
func (f *File) resolve(sec *Section, off, size uint64, code *Function) []Reloc {
	in := relocsIn(sec, off, size)
	if len(in) == 0 {
		return nil
	}
	out := make([]Reloc, len(in))
	for i, r := range in {
		r.Offset -= off
		bias := 0
		if code != nil && (r.Info.Kind == arch.RelocPCRel || r.Info.Kind == arch.RelocBranch) {
			bias = f.Arch.PCBias(code.Insns(), int(r.Offset))
		}
		r.Target = f.target(r.Sym, r.Addend+int64(bias))
		out[i] = r
	}
	return out
}

// SectionRelocs returns the relocations of a whole section, resolved to
// their targets like those of functions and objects: for sections that
// hold neither, such as jump tables.
func (f *File) SectionRelocs(sec *Section) []Reloc {
	return f.resolve(sec, 0, sec.Size, nil)
}

// target resolves sym+off to the function or object containing it, or to a
// string in a literal pool.
func (f *File) target(sym *Symbol, off int64) Target {
	if sym == nil {
		return Target{}
	}
	if sym.fn != nil || sym.obj != nil || sym.Section == nil {
		return Target{Sym: sym, Off: off}
	}
	// A section symbol, or a label (.L31) in a section: find what is there.
	sec := sym.Section
	at := off
	if sym.Type != elf.STT_SECTION {
		at += int64(sym.Value)
	}
	if d := containing(sec.Defs, at); d != nil {
		return Target{Sym: d, Off: at - int64(d.Value)}
	}
	if sec.Sym != nil {
		sym, off = sec.Sym, at
	}
	if sec.Kind == KindStrings && at >= 0 && at < int64(len(sec.Data)) {
		s := sec.Data[at:]
		if n := indexByte(s, 0); n >= 0 {
			s = s[:n]
		}
		return Target{Sym: sym, Off: off, String: string(s), IsString: true}
	}
	return Target{Sym: sym, Off: off}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// containing returns the definition of defs (sorted by value) that contains
// off; a reference just past the end of an object (&a[N]) or of a function
// (the ORC entry that ends it, a label after its last instruction) counts
// as its own, unless another definition starts there.
func containing(defs []*Symbol, off int64) *Symbol {
	if off < 0 || len(defs) == 0 {
		return nil
	}
	i, _ := slices.BinarySearchFunc(defs, uint64(off)+1, func(s *Symbol, o uint64) int { return cmpU64(s.Value, o) })
	// defs[i-1] is the last with Value <= off.
	for j := i - 1; j >= 0; j-- {
		d := defs[j]
		if d.Value+d.Size > uint64(off) || (d.Size == 0 && d.Value == uint64(off)) {
			return d
		}
		if d.Value+d.Size == uint64(off) && d.Size > 0 && (j+1 >= len(defs) || defs[j+1].Value > uint64(off)) {
			return d
		}
		if d.Value < uint64(off) {
			break
		}
	}
	return nil
}

// PatchableSection is where gcc's -fpatchable-function-entry records each
// function's NOPs: the ftrace section on arm64, a record of the padding
// before each function on x86-64 with CALL_PADDING (whose ftrace section
// is __mcount_loc).
const PatchableSection = "__patchable_function_entries"

// loadFtrace reads the ftrace call-site records into Function.FtraceSite
// (and, for the padding records of x86-64's __patchable_function_entries,
// Function.PatchableSite). A record that points before a function, into
// bytes no function covers, marks that function's prefix (Function.Prefix).
func (f *File) loadFtrace() error {
	for _, sec := range f.Sections[1:] {
		if sec.Kind != KindFtrace {
			continue
		}
		for _, r := range sec.Relocs {
			t := f.target(r.Sym, r.Addend)
			fn := t.Sym.Function()
			off := t.Off
			if fn == nil {
				fn, off = f.prefixOwner(t)
			}
			if fn == nil {
				return &FormatError{Section: sec.Name, Msg: fmt.Sprintf("entry at %#x points outside any function (%s)", r.Offset, t.describe())}
			}
			if off < 0 {
				if err := fn.setPrefix(uint64(-off)); err != nil {
					return &FormatError{Section: sec.Name, Msg: fmt.Sprintf("entry at %#x: %v", r.Offset, err)}
				}
			}
			if sec.Name == f.Arch.FtraceSection {
				fn.FtraceSite = off
			} else {
				fn.PatchableSite = off
			}
		}
	}
	return nil
}

// prefixOwner returns the function whose prefix holds t (a section symbol
// plus offset that no function contains): the first function that starts
// after it, when nothing lies in between; and t's offset from it.
func (f *File) prefixOwner(t Target) (*Function, int64) {
	s := t.Sym
	if s == nil || s.Section == nil || s.Section.Kind != KindText {
		return nil, 0
	}
	at := t.Off
	if s.Type != elf.STT_SECTION {
		at += int64(s.Value)
	}
	if at < 0 {
		return nil, 0
	}
	for _, d := range s.Section.Defs {
		if d.Value+d.Size <= uint64(at) && !(d.Size == 0 && d.Value == uint64(at)) {
			continue
		}
		if d.Value <= uint64(at) || d.fn == nil {
			return nil, 0 // inside a definition that is not a function
		}
		return d.fn, at - int64(d.Value)
	}
	return nil, 0
}

// setPrefix records that the n bytes before fn's symbol are its prefix.
func (fn *Function) setPrefix(n uint64) error {
	if fn.Prefix != 0 && fn.Prefix != n {
		return fmt.Errorf("records of %s mark prefixes of %d and %d bytes", fn.Name, fn.Prefix, n)
	}
	if n > fn.Offset {
		return fmt.Errorf("prefix of %s (%d bytes) starts before its section", fn.Name, n)
	}
	fn.Prefix = n
	if fn.Section.Data != nil {
		fn.PrefixCode = fn.Section.Data[fn.Offset-n : fn.Offset]
	}
	return nil
}

// linkChildren links .cold and .part functions to their parents.
func (f *File) linkChildren() {
	byName := make(map[string]*Function, len(f.Functions))
	for _, fn := range f.Functions {
		byName[fn.Name] = fn
	}
	for _, fn := range f.Functions {
		if p := parentName(fn.Name); p != "" {
			if parent := byName[p]; parent != nil && parent != fn {
				fn.Parent = parent
				parent.Children = append(parent.Children, fn)
			}
		}
	}
}
