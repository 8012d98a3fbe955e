package elfdiff

import (
	"bytes"
	"cmp"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
)

// SpecialSections are the kernel's special sections elfdiff understands:
// tables with one entry per site in some function, attached to that
// function so that the update can carry them and run-pre matching can use
// them. Their entry sizes are derived from each object, never assumed.
var SpecialSections = []string{
	"__bug_table", "__ex_table", "__jump_table",
	".altinstructions", ".parainstructions",
	".static_call_sites", ".retpoline_sites", ".return_sites", ".call_sites",
	".ibt_endbr_seal", ".smp_locks",
	".orc_unwind_ip", ".orc_unwind", ".printk_index",
	"__dyndbg", "__dyndbg_classes", "__verbose",
}

// ddebugSections hold dynamic debug descriptors (struct _ddebug):
// __dyndbg, named __verbose in older kernels.
var ddebugSections = []string{"__dyndbg", "__verbose"}

// usedSections hold entries that point at no code (dynamic debug
// descriptors): each belongs to the function whose code references it.
var usedSections = ddebugSections

// payloadSections hold code or data that special entries point to. They
// have no entries of their own, except .fixup (see splitFixup).
var payloadSections = []string{".altinstr_replacement", ".altinstr_aux", ".fixup"}

func isSpecial(name string) bool {
	return slices.Contains(SpecialSections, name) || slices.Contains(payloadSections, name)
}

// loadSpecial splits the special sections into entries and attaches each to
// the function it describes.
func (f *File) loadSpecial() error {
	byName := map[string]*Special{}
	for _, sec := range f.Sections[1:] {
		if sec.Kind != KindSpecial || slices.Contains(payloadSections, sec.Name) {
			continue
		}
		sp := byName[sec.Name]
		if sp == nil {
			sp = &Special{Name: sec.Name}
			byName[sec.Name] = sp
			f.Special = append(f.Special, sp)
		}
		sp.Sections = append(sp.Sections, sec)
	}
	for _, sp := range f.Special {
		for _, sec := range sp.Sections {
			if sec.Data == nil && sec.Size != 0 {
				return &FormatError{Section: sec.Name, Msg: "special section without contents"}
			}
		}
		if sp.Name == ".orc_unwind" {
			continue
		}
		for _, sec := range sp.Sections {
			size, err := deriveEntrySize(sec)
			if err != nil {
				return err
			}
			if size == 0 {
				continue
			}
			if sp.EntrySize != 0 && sp.EntrySize != size {
				return &FormatError{Section: sec.Name, Msg: fmt.Sprintf("entry size %d here, %d in another section of the same name", size, sp.EntrySize)}
			}
			sp.EntrySize = size
			f.splitEntries(sp, sec, size)
		}
	}
	if orc := byName[".orc_unwind"]; orc != nil {
		if err := f.loadORC(orc, byName[".orc_unwind_ip"]); err != nil {
			return err
		}
	}
	if ex := byName["__ex_table"]; ex != nil {
		f.splitFixup(ex)
	}
	if alt := byName[".altinstructions"]; alt != nil {
		f.indexAltPieces(alt)
	}
	f.attachUsed()
	for _, sp := range f.Special {
		for _, e := range sp.Entries {
			e.Section.entries = append(e.Section.entries, e)
			if e.Owner == nil {
				f.Unattached = append(f.Unattached, e)
				continue
			}
			e.nth = len(e.Owner.entriesOf(sp.Name))
			e.Owner.Entries = append(e.Owner.Entries, e)
		}
	}
	return nil
}

// splitFixup splits .fixup, the out-of-line exception fixup code of older
// kernels (x86 before 5.17, arm64 before 5.16), into one piece per
// __ex_table entry pointing into it: from the entry's fixup target to the
// next target (or the end of the section). Each piece is an entry of a
// ".fixup" Special of variable size (EntrySize 0), owned by the function of
// its __ex_table entry, so that it is compared and carried with it, and a
// longer fixup of one function does not move the others'.
func (f *File) splitFixup(ex *Special) {
	owner := map[*Section]map[int64]*Entry{}
	for _, e := range ex.Entries {
		for _, r := range e.Relocs {
			sec, off, ok := r.Target.location()
			if !ok || sec.Name != ".fixup" || off < 0 || off >= int64(sec.Size) {
				continue
			}
			if owner[sec] == nil {
				owner[sec] = map[int64]*Entry{}
			}
			if _, dup := owner[sec][off]; !dup {
				owner[sec][off] = e
			}
		}
	}
	if len(owner) == 0 {
		return
	}
	sp := &Special{Name: ".fixup"}
	for _, sec := range f.Sections[1:] {
		starts := owner[sec]
		if starts == nil {
			continue
		}
		sp.Sections = append(sp.Sections, sec)
		offs := slices.Sorted(maps.Keys(starts))
		for i, off := range offs {
			end := int64(sec.Size)
			if i+1 < len(offs) {
				end = offs[i+1]
			}
			e := &Entry{Special: sp, Section: sec, Index: len(sp.Entries), Offset: uint64(off), Anchor: -1,
				Owner: starts[off].Owner}
			if sec.Data != nil {
				e.Data = sec.Data[off:end]
			}
			e.Relocs = f.resolve(sec, uint64(off), uint64(end-off), nil)
			sp.Entries = append(sp.Entries, e)
		}
	}
	f.Special = append(f.Special, sp)
}

// indexAltPieces records, for each .altinstructions entry, where its
// replacement starts in .altinstr_replacement and how long it is (the
// entry's last byte: replacementlen of struct alt_instr in x86-64's 6.1 and
// 6.12 layouts, alt_len of arm64's). Replacements are compared piece by
// piece: a replacement that grows in one function moves the others', which
// must not make them changed.
func (f *File) indexAltPieces(alt *Special) {
	for _, e := range alt.Entries {
		if len(e.Data) == 0 {
			continue
		}
		for _, r := range e.Relocs {
			sec, off, ok := r.Target.location()
			if !ok || sec.Name != ".altinstr_replacement" || off < 0 || off > int64(sec.Size) {
				continue
			}
			n := int64(e.Data[len(e.Data)-1])
			if off+n > int64(sec.Size) {
				continue // not a replacement of this layout: compared whole
			}
			if f.altPieces == nil {
				f.altPieces = map[*Section]map[int64]int64{}
			}
			if f.altPieces[sec] == nil {
				f.altPieces[sec] = map[int64]int64{}
			}
			f.altPieces[sec][off] = n
		}
	}
}

// altPiece returns the replacement that t points at the start of, if it is
// one.
func (f *File) altPiece(t Target) (sec *Section, off, n int64, ok bool) {
	sec, off, ok = t.location()
	if !ok || sec.Name != ".altinstr_replacement" {
		return nil, 0, 0, false
	}
	n, ok = f.altPieces[sec][off]
	return sec, off, n, ok
}

// attachUsed attaches the entries of usedSections to the first function
// whose code references them. A descriptor shared by several functions (a
// pr_debug in an inline function inlined twice) belongs to the first; the
// others reference it as they reference data.
func (f *File) attachUsed() {
	for _, fn := range f.Functions {
		for _, r := range fn.Relocs {
			sec, off, ok := r.Target.location()
			if !ok || !slices.Contains(usedSections, sec.Name) {
				continue
			}
			for _, sp := range f.Special {
				if sp.Name != sec.Name {
					continue
				}
				for _, e := range sp.Entries {
					if e.Section == sec && e.Owner == nil && off >= int64(e.Offset) && off < int64(e.Offset)+int64(len(e.Data)) {
						e.Owner, e.Anchor = fn, -1
					}
				}
			}
		}
	}
}

// location returns the section and offset in it that a target points at,
// when it is defined.
func (t Target) location() (*Section, int64, bool) {
	if !t.Sym.Defined() {
		return nil, 0, false
	}
	off := t.Off
	if t.Sym.Type != elf.STT_SECTION {
		off += int64(t.Sym.Value)
	}
	return t.Sym.Section, off, true
}

// Entry returns the special-section entry the target points into, and the
// offset in it, or nil: a dynamic debug descriptor that code passes to
// __dynamic_pr_debug or that a jump entry is keyed on, a .fixup piece an
// __ex_table entry points to. An update that carries the entry must point
// such references at its own copy.
func (t Target) Entry() (*Entry, int64) {
	sec, off, ok := t.location()
	if !ok || sec.Kind != KindSpecial {
		return nil, 0
	}
	es := sec.entries
	i, _ := slices.BinarySearchFunc(es, off+1, func(e *Entry, o int64) int { return cmp.Compare(int64(e.Offset), o) })
	if i == 0 {
		return nil, 0
	}
	e := es[i-1]
	if off-int64(e.Offset) > int64(len(e.Data)) {
		return nil, 0
	}
	return e, off - int64(e.Offset)
}

// deriveEntrySize finds the entry size of a special section from its
// relocations: entries repeat the same pattern of relocation offsets and
// types, so the smallest number of relocations per entry whose pattern
// repeats at a constant stride, and whose stride fits the section size,
// gives the size. The first relocation of every entry must also point into
// the same kind of section (text; a payload such as .fixup; data...): it is
// what tells a static call site (text) from its key (data) when both are
// s32 fields. The other fields may point at anything: keys of jump
// labels and static calls are external symbols, local ones (relocated
// against their section), array elements (section + addend) or dynamic
// debug descriptors, mixed in one section.
func deriveEntrySize(sec *Section) (uint64, error) {
	rs := sec.Relocs
	c := len(rs)
	if sec.Size == 0 {
		return 0, nil
	}
	if c == 0 {
		return 0, &FormatError{Section: sec.Name, Msg: fmt.Sprintf("cannot derive the entry size: %#x bytes without relocations", sec.Size)}
	}
	for per := 1; per <= c; per++ {
		if c%per != 0 {
			continue
		}
		n := uint64(c / per)
		if n == 1 {
			return sec.Size, nil
		}
		stride := rs[per].Offset - rs[0].Offset
		if stride == 0 || rs[0].Offset >= stride || rs[per-1].Offset-rs[0].Offset >= stride {
			continue
		}
		ok := sec.Size > (n-1)*stride && sec.Size <= n*stride
		for i := per; ok && i < c; i++ {
			b := rs[i%per]
			ok = rs[i].Offset-b.Offset == uint64(i/per)*stride && rs[i].Type == b.Type &&
				(i%per != 0 || targetKind(rs[i]) == targetKind(b))
		}
		if ok {
			return stride, nil
		}
	}
	return 0, &FormatError{Section: sec.Name, Msg: "cannot derive the entry size from the relocations"}
}

func targetKind(r Reloc) SectionKind {
	if r.Sym == nil || r.Sym.Section == nil {
		return KindMeta
	}
	return r.Sym.Section.Kind
}

func (f *File) splitEntries(sp *Special, sec *Section, size uint64) {
	for off := uint64(0); off < sec.Size; off += size {
		n := min(size, sec.Size-off)
		e := &Entry{Special: sp, Section: sec, Index: len(sp.Entries), Offset: off, Anchor: -1}
		if sec.Data != nil {
			e.Data = sec.Data[off : off+n]
		}
		e.Relocs = f.resolve(sec, off, n, nil)
		f.attach(e)
		sp.Entries = append(sp.Entries, e)
	}
}

// attach finds the function an entry describes: the first relocation that
// points into a function, or, for .printk_index, the function whose
// __func__ the pointed-to record names.
func (f *File) attach(e *Entry) {
	for _, r := range e.Relocs {
		if fn := r.Target.Sym.Function(); fn != nil {
			e.Owner, e.Anchor = fn, r.Target.Off
			return
		}
	}
	if e.Special.Name != ".printk_index" {
		return
	}
	for _, r := range e.Relocs {
		rec := r.Target.Sym.Object()
		if rec == nil {
			continue
		}
		for _, rr := range rec.Relocs {
			if fn := f.functionNamed(rr.Target); fn != nil {
				e.Owner, e.Anchor = fn, -1
				return
			}
		}
	}
}

// functionNamed returns the function whose name is the string t points to
// (a __func__ object or a literal).
func (f *File) functionNamed(t Target) *Function {
	var name []byte
	switch {
	case t.IsString:
		name = []byte(t.String)
	case t.Sym.Object() != nil && t.Off == 0:
		name, _, _ = bytes.Cut(t.Sym.Object().Data, []byte{0})
	default:
		return nil
	}
	for _, fn := range f.Functions {
		if fn.Name == string(name) {
			return fn
		}
	}
	return nil
}

// loadORC splits .orc_unwind, which has no relocations, into as many
// entries as .orc_unwind_ip has, each belonging to the function of its
// .orc_unwind_ip twin.
func (f *File) loadORC(orc, ip *Special) error {
	if len(orc.Sections) != 1 || ip == nil || len(ip.Sections) != 1 {
		return &FormatError{Section: ".orc_unwind", Msg: "expected one .orc_unwind and one .orc_unwind_ip"}
	}
	sec, n := orc.Sections[0], uint64(len(ip.Entries))
	if n == 0 || sec.Size%n != 0 {
		return &FormatError{Section: sec.Name, Msg: fmt.Sprintf("size %#x is not a multiple of the %d .orc_unwind_ip entries", sec.Size, n)}
	}
	orc.EntrySize = sec.Size / n
	for i, ipe := range ip.Entries {
		off := uint64(i) * orc.EntrySize
		e := &Entry{Special: orc, Section: sec, Index: i, Offset: off, Owner: ipe.Owner, Anchor: ipe.Anchor}
		if sec.Data != nil {
			e.Data = sec.Data[off : off+orc.EntrySize]
		}
		orc.Entries = append(orc.Entries, e)
	}
	return nil
}

// ddebugLine returns the line of a dynamic debug descriptor (struct
// _ddebug): the low 18 bits of the word after its relocated pointers
// (modname, function, filename, format), "unsigned int lineno:18" first
// in its bit-fields in every kernel since 2.6.30.
func ddebugLine(e *Entry) (int64, bool) {
	lo, ok := afterRelocs(e, 4)
	if !ok {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint32(e.Data[lo:]) & ddebugLineMask), true
}

const ddebugLineMask = 1<<18 - 1

// afterRelocs returns the offset just past the entry's relocated fields,
// when n bytes follow it.
func afterRelocs(e *Entry, n int) (int, bool) {
	if len(e.Relocs) == 0 {
		return 0, false
	}
	end := 0
	for _, r := range e.Relocs {
		end = max(end, int(r.Offset)+r.Info.Size)
	}
	return end, end+n <= len(e.Data)
}
