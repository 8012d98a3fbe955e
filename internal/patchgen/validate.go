package patchgen

import (
	"debug/elf"
	"fmt"
	"sort"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/elfdiff"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// ErrMalformed means patchgen was about to write tables the engine would
// reject at load time (ksplice_check_func in kmod-src/ksplice_core.c). It is
// a bug of ksplice, never of the patch, and create stops before writing the
// update. It wraps verdict.ErrUnsupported.
var ErrMalformed = fmt.Errorf("%w: generated tables the engine would reject", verdict.ErrUnsupported)

// The direct jump windows the engine writes: x86-64's jmp rel32, arm64's
// b, and arm64's adrp x16; add x16; br x16, the longest, which is the
// engine's KSPLICE_JUMP_MAX.
const (
	x86JumpLen     = 5
	a64JumpLen     = 4
	a64LongJumpLen = 12
	jumpMax        = a64LongJumpLen
)

// windowShape checks a jump window the way the engine's
// ksplice_arch_check_window does: on x86-64 the 5 bytes of jmp rel32; on
// arm64 whole instructions, the 4 bytes of b or the 12 of adrp/add/br
// (the engine writes the window word by word).
func windowShape(a *arch.Arch, s site) error {
	switch a.Machine {
	case elf.EM_X86_64:
		if s.len == x86JumpLen {
			return nil
		}
	case elf.EM_AARCH64:
		if s.off%a64JumpLen == 0 && (s.len == a64JumpLen || s.len == a64LongJumpLen) {
			return nil
		}
	default:
		return fmt.Errorf("no direct jump on %s", a.Name)
	}
	return fmt.Errorf("jump window at +%#x of %d bytes is not one %s writes", s.off, s.len, a.Name)
}

// mergeSites sorts the sites of old code and merges those that overlap.
// Several entries can describe one place: ALTERNATIVE_2 and
// ALTERNATIVE_TERNARY (static_cpu_has) emit two .altinstructions entries
// for the same instruction, and a jump label may sit inside an
// alternative. The engine wants disjoint sites in order; a merged site is an
// alternative spanning them all, whose bytes run-pre matching leaves to the
// kernel's boot-time rewriting, as it does for any alternative.
func mergeSites(sites []site) []site {
	sort.SliceStable(sites, func(i, j int) bool { return sites[i].off < sites[j].off })
	var out []site
	for _, s := range sites {
		if n := len(out); n > 0 && s.off < out[n-1].off+uint64(out[n-1].len) {
			last := &out[n-1]
			end := max(last.off+uint64(last.len), s.off+uint64(s.len))
			last.len = int(end - last.off)
			last.kind, last.target = siteAlternative, 0
			continue
		}
		out = append(out, s)
	}
	return out
}

// addJumpWindow adds the direct jump window elfdiff found to the sites of
// a replaced function. elfdiff checked that no other site lies in it: one
// that does is a bug, and merging would turn the window into an
// alternative.
func (r *replaced) addJumpWindow(a *arch.Arch, w elfdiff.JumpWindow) error {
	s := site{off: uint64(w.Offset), len: w.Len, kind: siteEntryJump, target: int64(w.Dest)}
	if err := windowShape(a, s); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMalformed, r.name, err)
	}
	for _, o := range r.sites {
		if o.off < s.off+uint64(s.len) && s.off < o.off+uint64(o.len) {
			return fmt.Errorf("%w: %s: the jump window at +%#x overlaps a site at +%#x", ErrMalformed, r.name, s.off, o.off)
		}
	}
	r.sites = append(r.sites, s)
	sort.SliceStable(r.sites, func(i, j int) bool { return r.sites[i].off < r.sites[j].off })
	return r.validate()
}

// validate checks a replaced function's tables the way the engine will
// (ksplice_check_func): relocations in increasing order inside the old
// code, sites in order, disjoint, inside the old code.
func (r *replaced) validate() error {
	size := r.old.Size
	if r.name == "" || size == 0 || len(r.old.Code) != int(size) {
		return fmt.Errorf("%w: %s: old code of %d bytes, size %d", ErrMalformed, r.name, len(r.old.Code), size)
	}
	for i, rel := range r.relocs {
		if rel.symbol == "" || rel.off >= size || i > 0 && rel.off <= r.relocs[i-1].off {
			return fmt.Errorf("%w: %s: old relocation %d at +%#x (of %d bytes) is out of order or outside the function", ErrMalformed, r.name, i, rel.off, size)
		}
	}
	var end uint64
	windows := 0
	for i, s := range r.sites {
		if s.kind == siteEntryJump {
			if windows++; windows > 1 || s.len <= 0 || s.len > jumpMax || s.target < 0 {
				return fmt.Errorf("%w: %s: jump window %d at +%#x (%d bytes, landing at +%#x) is not the only one or out of bounds", ErrMalformed, r.name, i, s.off, s.len, s.target)
			}
		}
		if s.off < end || s.off+uint64(s.len) > size {
			return fmt.Errorf("%w: %s: site %d at +%#x (%d bytes) overlaps the previous or leaves the function", ErrMalformed, r.name, i, s.off, s.len)
		}
		end = s.off + uint64(s.len)
	}
	return nil
}
