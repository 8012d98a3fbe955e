package patchgen

import (
	"debug/elf"
	"errors"
	"fmt"
	"testing"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

func TestMergeSites(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []site
		want string
	}{
		{"disjoint, sorted", []site{{off: 9, len: 2, kind: siteJumpLabel, target: 30}, {off: 4, len: 5, kind: siteAlternative}},
			"[{4 5 2 0} {9 2 1 30}]"},
		// ALTERNATIVE_TERNARY: two entries at one instruction.
		{"same place", []site{{off: 8, len: 5, kind: siteAlternative}, {off: 8, len: 5, kind: siteAlternative}},
			"[{8 5 2 0}]"},
		// A jump label inside an alternative becomes part of it.
		{"nested", []site{{off: 8, len: 6, kind: siteAlternative}, {off: 10, len: 5, kind: siteJumpLabel, target: 40}},
			"[{8 7 2 0}]"},
		{"touching stay apart", []site{{off: 8, len: 2, kind: siteAlternative}, {off: 10, len: 2, kind: siteAlternative}},
			"[{8 2 2 0} {10 2 2 0}]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := fmt.Sprint(mergeSites(c.in)); got != c.want {
				t.Errorf("mergeSites = %s, want %s", got, c.want)
			}
		})
	}
}

// TestValidateAsTheEngine: what ksplice_check_func rejects, patchgen
// rejects before an update is written.
func TestValidateAsTheEngine(t *testing.T) {
	old := &elfdiff.Function{Name: "f", Size: 16, Code: make([]byte, 16)}
	good := replaced{name: "f", old: old,
		relocs: []oldReloc{{off: 1, symbol: "a"}, {off: 6, symbol: "b"}},
		sites:  []site{{off: 5, len: 5, kind: siteAlternative}, {off: 10, len: 2, kind: siteJumpLabel}}}
	if err := good.validate(); err != nil {
		t.Fatalf("valid tables refused: %v", err)
	}
	for name, mut := range map[string]func(r *replaced){
		"relocs out of order":  func(r *replaced) { r.relocs = []oldReloc{{off: 6, symbol: "b"}, {off: 1, symbol: "a"}} },
		"reloc past the end":   func(r *replaced) { r.relocs = []oldReloc{{off: 16, symbol: "a"}} },
		"reloc without symbol": func(r *replaced) { r.relocs = []oldReloc{{off: 1}} },
		"overlapping sites":    func(r *replaced) { r.sites = []site{{off: 5, len: 5}, {off: 5, len: 5}} },
		"site past the end":    func(r *replaced) { r.sites = []site{{off: 12, len: 5}} },
	} {
		r := good
		mut(&r)
		if err := r.validate(); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: validate = %v, want ErrMalformed", name, err)
		}
	}
}

// TestJumpWindowShape: a window of a shape the engine would refuse at load
// (ksplice_arch_check_window) stops create with ErrMalformed; the shapes
// each architecture writes pass.
func TestJumpWindowShape(t *testing.T) {
	x86, err := arch.For(elf.EM_X86_64)
	if err != nil {
		t.Fatal(err)
	}
	a64, err := arch.For(elf.EM_AARCH64)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		a        *arch.Arch
		off, len int
		ok       bool
	}{
		{x86, 0, 5, true},
		{x86, 4, 5, true}, // after endbr64
		{x86, 0, 4, false},
		{x86, 0, 12, false},
		{a64, 0, 4, true},
		{a64, 4, 4, true}, // after bti c
		{a64, 0, 12, true},
		{a64, 4, 12, true},
		{a64, 0, 1, false}, // len 1-3 would underflow the engine's len - 4
		{a64, 0, 3, false},
		{a64, 0, 8, false},
		{a64, 2, 4, false},
		{a64, 0, 5, false},
	} {
		old := &elfdiff.Function{Name: "f", Size: 32, Code: make([]byte, 32)}
		r := replaced{name: "f", old: old}
		err := r.addJumpWindow(c.a, elfdiff.JumpWindow{Offset: c.off, Len: c.len})
		if c.ok && err != nil {
			t.Errorf("%s: window +%d, %d bytes refused: %v", c.a.Name, c.off, c.len, err)
		}
		if !c.ok && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: window +%d, %d bytes: err = %v, want ErrMalformed", c.a.Name, c.off, c.len, err)
		}
	}
}
