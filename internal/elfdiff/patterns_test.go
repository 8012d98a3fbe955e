package elfdiff

import (
	"debug/elf"
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ksplice-go/ksplice/internal/arch"
)

// Tests of the patterns of real kernel fixes, other compilers and kernel
// generations (issue 13, points 4 and 8) beyond the rules of TestRules.

// TestEntriesSplit checks that entries whose key relocations mix kinds
// (external, local, section + addend, dynamic debug descriptor) are split
// one per entry and attached to their functions, and that each function
// owns the dynamic debug descriptors its code uses.
func TestEntriesSplit(t *testing.T) {
	want := map[string]map[string]int{
		"toggled": {"__jump_table": 3, ".static_call_sites": 1, "__dyndbg": 1},
		"steady":  {"__jump_table": 2, ".static_call_sites": 2},
		"probe":   {"__jump_table": 1, "__dyndbg": 1},
		"fixed":   {"__jump_table": 1, "__dyndbg": 1},
		"early":   {"__jump_table": 1, "__dyndbg": 1},
	}
	sizes := map[string]uint64{"__jump_table": 16, ".static_call_sites": 8, "__dyndbg": 56}
	for _, arch := range arches {
		want["steady"][".static_call_sites"] = 2
		for _, obj := range []string{"jumpkeys.orig.o", "dyndbg.patched.o"} {
			t.Run(arch+"/"+obj, func(t *testing.T) {
				f, err := Open(filepath.Join(testdata, arch, obj))
				if err != nil {
					t.Fatal(err)
				}
				if arch == "arm64" {
					// gcc duplicates steady's tail, static call site and all.
					want["steady"][".static_call_sites"] = 3
				}
				for _, fn := range f.Functions {
					got := map[string]int{}
					for _, e := range fn.Entries {
						if _, ok := sizes[e.Special.Name]; ok {
							got[e.Special.Name]++
						}
					}
					if w, ok := want[fn.Name]; ok && !maps.Equal(got, w) {
						t.Errorf("%s: entries %v, want %v", fn.Name, got, w)
					}
				}
				for _, sp := range f.Special {
					if w, ok := sizes[sp.Name]; ok && sp.EntrySize != w {
						t.Errorf("%s: entry size %d, want %d", sp.Name, sp.EntrySize, w)
					}
				}
				for _, e := range f.Unattached {
					if e.Special.Name != "__dyndbg_classes" { // a class map belongs to no function
						t.Errorf("unattached %s entry %d", e.Special.Name, e.Index)
					}
				}
			})
		}
	}
}

// TestUnattachedChanged changes an entry that belongs to no function (the
// dyndbg pair's class map): the change must be refused, not dropped.
func TestUnattachedChanged(t *testing.T) {
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			path := filepath.Join(testdata, arch, "dyndbg.orig.o")
			pre, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			post, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(post.Unattached) != 1 {
				t.Fatalf("%d unattached entries, want the class map", len(post.Unattached))
			}
			e := post.Unattached[0]
			e.Data = slices.Clone(e.Data)
			e.Data[len(e.Data)-8]++ // .base
			res, err := Diff(pre, post)
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(res.Err(), ErrUnknownSection) || res.Refusals[0].Symbol != "__dyndbg_classes" {
				t.Errorf("refusals %v, want __dyndbg_classes refused", res.Refusals)
			}
		})
	}
}

// TestLineNoisePC32 relocates every call of the x86-64 pairs with
// __LINE__ noise with R_X86_64_PC32, as older binutils did, instead of
// PLT32: the verdicts must not change.
func TestLineNoisePC32(t *testing.T) {
	pc32, err := x86Arch().Reloc(uint32(elf.R_X86_64_PC32))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"warnline", "lineargs"} {
		t.Run(name, func(t *testing.T) {
			want := diffPair(t, "x86_64", name)
			var files [2]*File
			for i, half := range []string{"orig", "patched"} {
				f, err := Open(filepath.Join(testdata, "x86_64", name+"."+half+".o"))
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, fn := range f.Functions {
					for i := range fn.Relocs {
						if fn.Relocs[i].Type == uint32(elf.R_X86_64_PLT32) {
							fn.Relocs[i].Type, fn.Relocs[i].Info = uint32(elf.R_X86_64_PC32), pc32
							n++
						}
					}
				}
				if n == 0 {
					t.Fatalf("%s.%s.o: no PLT32 call to rewrite", name, half)
				}
				files[i] = f
			}
			got, err := Diff(files[0], files[1])
			if err != nil {
				t.Fatal(err)
			}
			for i, fd := range got.Functions {
				if w := want.Functions[i]; fd.Status != w.Status || !slices.Equal(fd.Reasons, w.Reasons) {
					t.Errorf("%s with PC32 calls: %s %q, with PLT32: %s %q", fd.Name, fd.Status, fd.Reasons, w.Status, w.Reasons)
				}
			}
		})
	}
}

func x86Arch() *arch.Arch {
	a, err := arch.For(elf.EM_X86_64)
	if err != nil {
		panic(err)
	}
	return a
}
