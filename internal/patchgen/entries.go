package patchgen

import (
	"debug/elf"
	"fmt"
	"strings"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

// Special sections of new code. The module loader processes each of these
// for the update module as for any module, so the new code gets the same
// treatment as the code it replaces (alternatives patched, jump labels
// registered, exception fixups found, ftrace sites recorded).
var carriedSections = map[string]bool{
	"__bug_table":       true,
	"__ex_table":        true,
	"__jump_table":      true,
	".altinstructions":  true,
	".parainstructions": true,
	".smp_locks":        true,
	// Dynamic debug descriptors (pr_debug, dev_dbg): the loader registers
	// the module's own with dynamic debug, under the module's name. The
	// carried code, and the jump label on the descriptor's key, point at
	// the update's copy (see addressable).
	"__dyndbg":  true,
	"__verbose": true, // its name before 6.0
}

// addressable are the carried special sections whose entries code and
// other entries refer to (a pr_debug call passes its descriptor; the jump
// label tests the key inside it): each carried entry gets a label, and
// references into it are rebased onto the update's copy, never left to
// the running kernel's.
var addressable = map[string]bool{
	"__dyndbg":  true,
	"__verbose": true,
}

// regenerated are the sections objtool makes anew when Kbuild assembles
// new.S, from the code itself: carrying the compiler's copies would
// duplicate them.
var regenerated = map[string]bool{
	".orc_unwind":        true,
	".orc_unwind_ip":     true,
	".return_sites":      true,
	".retpoline_sites":   true,
	".call_sites":        true,
	".static_call_sites": true,
	".ibt_endbr_seal":    true,
}

// dropped are special sections an update does not need: .printk_index only
// feeds the printk format catalogue in debugfs.
var dropped = map[string]bool{
	".printk_index": true,
}

func carriedEntry(name string) bool { return carriedSections[name] }

// entryKind says what an entry of each carried section is, for messages.
var entryKind = map[string]string{
	"__bug_table":       "a BUG/WARN site",
	"__ex_table":        "an exception fixup",
	"__jump_table":      "a jump label: static key or tracepoint",
	".altinstructions":  "an alternative",
	".parainstructions": "a paravirt site",
	".smp_locks":        "a lock prefix",
	"__dyndbg":          "a dynamic debug descriptor (pr_debug, dev_dbg)",
	"__verbose":         "a dynamic debug descriptor (pr_debug, dev_dbg)",
}

// entries emits the special-section entries of a carried function, and its
// ftrace call site record in the section the architecture's compiler uses
// (__mcount_loc on x86-64, __patchable_function_entries on arm64), where
// the module loader finds it for ftrace_module_init(); and the record of
// its padding where __patchable_function_entries is not the ftrace section
// (x86-64 CALL_PADDING). A record may point before the symbol, into the
// function's prefix, which the carried section holds at the same offset.
func (g *gen) entries(o Object, f *elfdiff.Function, lbl string) error {
	ftrace := o.Result.Post.Arch.FtraceSection
	for _, rec := range []struct {
		sec  string
		site int64
	}{{ftrace, f.FtraceSite}, {elfdiff.PatchableSection, f.PatchableSite}} {
		if rec.site == elfdiff.NoFtraceSite {
			continue
		}
		flags := "\"a\",%progbits"
		if rec.sec == elfdiff.PatchableSection {
			// As gcc's -fpatchable-function-entry emits it: ordered
			// after the code (SHF_LINK_ORDER). ld refuses to merge
			// ordered and unordered sections of one name, and the
			// module's C files bring ordered ones.
			flags = "\"awo\",%progbits," + lbl
		}
		fmt.Fprintf(&g.asm, "\t.pushsection %s,%s\n\t.balign 8\n\t.quad %s+%#x\n\t.popsection\n",
			rec.sec, flags, lbl, int64(f.Offset)+rec.site)
	}
	for _, e := range f.Entries {
		name := e.Special.Name
		switch {
		case regenerated[name], dropped[name]:
			continue
		case !carriedSections[name]:
			return fmt.Errorf("%w: %s has a %s entry, which updates cannot carry yet", ErrUnsupported, f.Name, name)
		}
		flags := "a"
		if e.Section.Flags&elf.SHF_WRITE != 0 {
			flags = "aw"
		}
		el, ok := g.entryLabels[e]
		if !ok {
			el = fmt.Sprintf(".Lksplice_e%d", g.nlabel)
			g.nlabel++
		}
		align := e.Section.Addralign
		if align == 0 {
			align = 1
		}
		fmt.Fprintf(&g.asm, "\t.pushsection %s,\"%s\",%%progbits\n\t.balign %d\n%s:\n", name, flags, align, el)
		writeBytes(&g.asm, e.Data)
		fmt.Fprintf(&g.asm, "\t.popsection\n")
		for _, r := range e.Relocs {
			place := fmt.Sprintf("%s+%#x", el, r.Offset)
			if name == "__jump_table" && r.Offset == jumpKeyOffset {
				late, err := g.jumpKey(o, f, e, place, r)
				if err != nil {
					return fmt.Errorf("%s entry of %s (%s): %w", name, f.Name, entryKind[name], err)
				}
				if late {
					continue
				}
			}
			if err := g.relocIn(o, place, r, nil, false); err != nil {
				return fmt.Errorf("%s entry of %s (%s): %w", name, f.Name, entryKind[name], err)
			}
		}
	}
	return nil
}

// Kinds of engine sites, as in kmod-src/ksplice.h.
const (
	siteJumpLabel   = 1
	siteAlternative = 2
	// siteEntryJump is the window of a function without an ftrace site,
	// where the engine writes a direct jump (format 5; 12 bytes and
	// relocations inside from format 6).
	siteEntryJump = 3
)

// jumpSite describes a static branch of old code: a jump or a nop of the
// same length (a.JumpSiteLen), whose target the __jump_table entry gives.
func jumpSite(a *arch.Arch, f *elfdiff.Function, e *elfdiff.Entry) (site, error) {
	s := site{off: uint64(e.Anchor), kind: siteJumpLabel}
	if e.Anchor < 0 || uint64(e.Anchor) >= f.Size {
		return s, fmt.Errorf("%w: __jump_table entry of %s points outside it", ErrUnsupported, f.Name)
	}
	if s.len = a.JumpSiteLen(f.Code[e.Anchor:]); s.len == 0 {
		return s, fmt.Errorf("%w: __jump_table entry of %s: the branch runs past its end", ErrUnsupported, f.Name)
	}
	if len(e.Relocs) < 2 || e.Relocs[1].Target.Sym == nil || e.Relocs[1].Target.Sym.Function() != f {
		return s, fmt.Errorf("%w: __jump_table entry of %s jumps outside it", ErrUnsupported, f.Name)
	}
	s.target = e.Relocs[1].Target.Off
	return s, nil
}

// altSite describes an alternative or paravirt site of old code, whose
// length its entry records: instrlen of struct alt_instr (its
// second-to-last byte), len of struct paravirt_patch_site (after a pointer
// and a u8 type).
func altSite(f *elfdiff.Function, e *elfdiff.Entry) (site, error) {
	s := site{off: uint64(e.Anchor), kind: siteAlternative}
	// struct alt_instr ends with u8 instrlen, u8 replacementlen in every
	// layout (x86-64 6.1: 12 bytes, 6.12: 14, arm64: 12), as payloadSpans
	// and elfdiff's indexAltPieces read it.
	at := len(e.Data) - 2
	if e.Special.Name == ".parainstructions" {
		at = 9
	}
	if e.Anchor < 0 || at < 0 || len(e.Data) <= at {
		return s, fmt.Errorf("%w: %s entry of %s is malformed", ErrUnsupported, e.Special.Name, f.Name)
	}
	s.len = int(e.Data[at])
	if uint64(e.Anchor)+uint64(s.len) > f.Size {
		return s, fmt.Errorf("%w: %s entry of %s runs past its end", ErrUnsupported, e.Special.Name, f.Name)
	}
	return s, nil
}

// labelEntries names, before any code is emitted, the carried entries of
// addressable sections, so that references to them from carried code and
// from other entries resolve to the update's copies.
func (g *gen) labelEntries(carried []*elfdiff.FuncDiff) {
	for _, fd := range carried {
		for _, e := range fd.Post.Entries {
			if addressable[e.Special.Name] {
				g.entryLabels[e] = fmt.Sprintf(".Lksplice_d%d", len(g.entryLabels))
			}
		}
	}
}

// entryReloc emits r as a reference to the update's copy of a carried
// entry, if its target is one; it reports whether it did.
func (g *gen) entryReloc(o Object, place string, r elfdiff.Reloc) bool {
	e, _ := r.Target.Entry()
	if e == nil || r.Sym == nil || r.Sym.Section != e.Section {
		return false
	}
	l, ok := g.entryLabels[e]
	if !ok {
		return false
	}
	// The relocation's own form (symbol value + addend, as in the
	// object), rebased from the section onto the entry.
	at := int64(symValue(r.Sym)) + r.Addend - int64(e.Offset)
	fmt.Fprintf(&g.asm, "\t.reloc %s, %s, %s%+d\n", place, o.Result.Post.Arch.RelocName(r.Type), l, at)
	return true
}

// jumpKeyOffset is the offset of the key field in struct jump_entry with
// relative references (x86-64 and arm64): s32 code, s32 target, long key.
const jumpKeyOffset = 8

// jumpPlaceholder is the update module's own static key (tables.c) that the
// jump labels of new code are keyed on until the engine binds them.
const jumpPlaceholder = "ksplice_jump_placeholder"

// jumpKey handles the key field of a carried __jump_table entry, at place.
// A key the update carries (a dynamic debug descriptor's) is the loader's
// to resolve, like any other field: it reports false. Any other key, of
// the running kernel, is bound by the engine: the module loader registers
// the module's jump labels (jump_label_add_module(), at
// MODULE_STATE_COMING) before ksplice could resolve an unexported key, so
// the field points at the update's placeholder key, keeping the entry's
// branch flag, and a struct ksplice_key tells the engine what to write
// there when the update is applied (then it registers the module's jump
// labels again). Exported keys go the same way, so that every key of the
// module is registered once, at the same time.
func (g *gen) jumpKey(o Object, f *elfdiff.Function, e *elfdiff.Entry, place string, r elfdiff.Reloc) (bool, error) {
	if r.Sym == nil {
		return false, nil
	}
	if e := entryOf(r); e != nil && r.Sym.Section == e.Section && g.entryLabels[e] != "" {
		return false, nil
	}
	if r.Sym.Section != nil {
		if _, ok := g.labels[r.Sym.Section]; ok {
			return false, nil
		}
	}
	a := o.Result.Post.Arch
	if r.Info.Kind != arch.RelocPCRel || r.Info.Size != 8 {
		return false, fmt.Errorf("%w: key field of type %s, want a 64-bit PC-relative one", ErrUnsupported, a.RelocName(r.Type))
	}
	var code *elfdiff.Reloc
	for i := range e.Relocs {
		if e.Relocs[i].Offset == 0 {
			code = &e.Relocs[i]
		}
	}
	if code == nil || code.Sym == nil || code.Sym.Section == nil || g.labels[code.Sym.Section] == "" {
		return false, fmt.Errorf("%w: the jump label's code is not in carried code", ErrUnsupported)
	}
	k := jumpKey{
		code:    fmt.Sprintf("%s+%#x", g.labels[code.Sym.Section], int64(symValue(code.Sym))+code.Addend),
		oldFunc: -1,
	}
	if (r.Sym.Section == nil || r.Sym.Bind == elf.STB_GLOBAL) && r.Sym.Name != "" && g.in.Exported(r.Sym.Name) {
		// The module loader resolves k.exported; the engine only
		// needs the name for its messages.
		k.symbol, k.addend, k.exported = r.Sym.Name, r.Addend, true
	} else {
		k.symbol, k.addend = runningTarget(r, g.preNames)
		if k.symbol == "" || strings.HasPrefix(k.symbol, ".") {
			return false, fmt.Errorf("%w: the key %s has no name the running kernel knows", ErrUnsupported, describe(r))
		}
		b, err := g.bindOld(o, r, k.symbol)
		if err != nil {
			return false, err
		}
		old := b.old
		k.symbol, k.addend = b.symbol, k.addend+b.delta
		if old < 0 && !localTarget(r) && a.Name == "arm64" && !strings.HasPrefix(k.symbol, "__tracepoint_") {
			// arm64's kallsyms has no data symbols (Debian builds
			// without KALLSYMS_ALL): a global key is bound through a
			// function of the object that addresses it, as statics
			// are. The engine finds tracepoints by name.
			if old, err = g.helperFor(o, r, k.symbol); err != nil {
				return false, err
			}
		}
		k.oldFunc = old
	}
	for _, o := range g.keys {
		if o.code == k.code {
			// The engine finds an entry by its code (the loader sorts
			// the table): two at one place would be ambiguous.
			return false, fmt.Errorf("%w: two jump labels at %s", ErrMalformed, k.code)
		}
	}
	g.keys = append(g.keys, k)
	fmt.Fprintf(&g.asm, "\t.reloc %s, %s, %s%+d /* %s%+d, bound by the engine */\n",
		place, a.RelocName(r.Type), jumpPlaceholder, k.addend&1, k.symbol, k.addend)
	return true, nil
}

// entryOf is the carried entry r's target lies in, or nil.
func entryOf(r elfdiff.Reloc) *elfdiff.Entry {
	e, _ := r.Target.Entry()
	return e
}
