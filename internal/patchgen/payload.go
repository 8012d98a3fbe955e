package patchgen

import (
	"fmt"
	"sort"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

// payloadSections hold code that the functions of an object share:
// .altinstr_replacement, the replacement instructions of alternatives
// (x86-64), and .altinstr_aux, the slow path of static_cpu_has() and
// cpu_feature_enabled(), which runs only until alternatives are applied.
// The update carries such a section whole, once; of its pieces, those of
// carried functions are the update's own, and their relocations must be
// resolved by the module loader, which applies alternatives at load time,
// before the engine has run. The pieces of other functions are never
// reached from the update's code: what their relocations name that the
// loader cannot resolve (a jump back into an uncarried function) points at
// the update's trap instead.
var payloadSections = map[string]bool{
	".altinstr_replacement": true,
	".altinstr_aux":         true,
}

// span is a piece of a payload section and the function it belongs to.
type span struct {
	lo, hi uint64
	owner  *elfdiff.Function
}

// payloadSpans finds the pieces of the payload sections of f and their
// owners: for .altinstr_replacement, the replacement of each
// .altinstructions entry (its length is the entry's last byte, in the
// kernel's struct alt_instr of x86-64 6.1 and 6.12 and of arm64 alike); for
// .altinstr_aux, from each place a function's code jumps to up to the next
// such place.
func payloadSpans(f *elfdiff.File) map[*elfdiff.Section][]span {
	spans := map[*elfdiff.Section][]span{}
	for _, sp := range f.Special {
		if sp.Name != ".altinstructions" {
			continue
		}
		for _, e := range sp.Entries {
			if e.Owner == nil || len(e.Data) == 0 {
				continue
			}
			for _, r := range e.Relocs {
				if s := r.Sym; s != nil && s.Section != nil && s.Section.Name == ".altinstr_replacement" && r.Target.Off >= 0 {
					lo := uint64(r.Target.Off)
					spans[s.Section] = append(spans[s.Section], span{lo, lo + uint64(e.Data[len(e.Data)-1]), e.Owner})
				}
			}
		}
	}
	starts := map[*elfdiff.Section][]span{}
	for _, fn := range f.Functions {
		for _, r := range fn.Relocs {
			if s := r.Sym; s != nil && s.Section != nil && s.Section.Name == ".altinstr_aux" && r.Target.Off >= 0 {
				starts[s.Section] = append(starts[s.Section], span{lo: uint64(r.Target.Off), owner: fn})
			}
		}
	}
	for sec, ss := range starts {
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].lo < ss[j].lo })
		for i := range ss {
			ss[i].hi = sec.Size
			if i+1 < len(ss) {
				ss[i].hi = ss[i+1].lo
			}
		}
		spans[sec] = ss
	}
	return spans
}

// ownerAt returns the function whose piece holds offset off, or nil.
func ownerAt(spans []span, off uint64) *elfdiff.Function {
	for _, s := range spans {
		if off >= s.lo && off < s.hi {
			return s.owner
		}
	}
	return nil
}

// labelPayload labels the payload sections that carried functions or their
// carried entries refer to.
func (g *gen) labelPayload(carried []*elfdiff.FuncDiff) {
	visit := func(rs []elfdiff.Reloc) {
		for _, r := range rs {
			if s := r.Sym; s != nil && s.Section != nil && payloadSections[s.Section.Name] {
				g.label(s.Section)
			}
		}
	}
	for _, fd := range carried {
		visit(fd.Post.Relocs)
		for _, e := range fd.Post.Entries {
			if carriedEntry(e.Special.Name) {
				visit(e.Relocs)
			}
		}
	}
}

// payload emits a carried payload section (see payloadSections).
func (g *gen) payload(o Object, s *elfdiff.Section) error {
	post := o.Result.Post
	a := post.Arch
	lbl := g.labels[s]
	// Under its own name, which objtool knows: on kernels that run it
	// on the linked module (x86 IBT, 6.12), it takes any other name for
	// functions' text, warns that the pieces are unreachable and, on
	// 6.12.111's objtool, crashed on mm/madvise.c's update. The pieces
	// of several objects share the section, each after its label.
	fmt.Fprintf(&g.asm, "\n/* %s %s */\n\t.section %s,\"ax\",%%progbits\n%s:\n", o.Rel, s.Name, s.Name, lbl)
	writeBytes(&g.asm, s.Data)
	spans := g.spans[s]
	for _, r := range post.SectionRelocs(s) {
		if r.Info.Kind == 0 {
			continue
		}
		place := fmt.Sprintf("%s+%#x", lbl, r.Offset)
		owner := ownerAt(spans, r.Offset)
		if owner != nil && g.carriedFn[owner] || g.loaderResolves(r) {
			if err := g.relocIn(o, place, r, nil, false); err != nil {
				return fmt.Errorf("%s piece of %s: %w", s.Name, nameOf(owner), err)
			}
			continue
		}
		// Another function's piece: it never runs in the update.
		bias := 0
		if r.Info.Kind == arch.RelocPCRel || r.Info.Kind == arch.RelocBranch {
			bias = a.DefaultPCBias
		}
		g.placeholder = true
		fmt.Fprintf(&g.asm, "\t.reloc %s, %s, ksplice_placeholder%+d /* %s: not the update's */\n",
			place, a.RelocName(r.Type), -bias, nameOf(owner))
	}
	return nil
}

// loaderResolves reports whether the module loader can resolve r: its
// target is carried, or exported.
func (g *gen) loaderResolves(r elfdiff.Reloc) bool {
	if r.Sym == nil {
		return false
	}
	if r.Sym.Section != nil {
		_, ok := g.labels[r.Sym.Section]
		return ok
	}
	return r.Sym.Name != "" && g.in.Exported(r.Sym.Name)
}

func nameOf(f *elfdiff.Function) string {
	if f == nil {
		return "no function"
	}
	return f.Name
}
