package patchgen

import (
	"debug/elf"
	"testing"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

// recordTargets returns, for each record of section name in f (an
// R_*_64 relocation per 8 bytes), the symbol it names and its addend.
func recordTargets(t *testing.T, f *elf.File, name string) map[string][]int64 {
	t.Helper()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]int64{}
	for _, s := range f.Sections {
		if s.Name != name {
			continue
		}
		rela := f.Section(".rela" + name)
		for _, r := range f.Sections {
			// gas names every __patchable_function_entries ".rela__..."
			// and links each to its own section by sh_info.
			if r.Type == elf.SHT_RELA && int(r.Info) < len(f.Sections) && f.Sections[r.Info] == s {
				rela = r
			}
		}
		if rela == nil {
			t.Fatalf("%s has no relocations", name)
		}
		b, err := rela.Data()
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+24 <= len(b); i += 24 {
			info := f.ByteOrder.Uint64(b[i+8:])
			add := int64(f.ByteOrder.Uint64(b[i+16:]))
			si := int(info >> 32)
			if si < 1 || si > len(syms) {
				t.Fatalf("%s: relocation %d names symbol %d", name, i/24, si)
			}
			out[syms[si-1].Name] = append(out[syms[si-1].Name], add)
		}
	}
	return out
}

// TestPrefixRecords612 generates the update of the prefix pair built with
// 6.12's flags and assembles it: each carried function's section holds
// its padding before it at the same offset, and its records point where
// the compiler's did, relative to the carried copy: on x86-64 __mcount_loc
// at "call __fentry__" after the endbr64 and __patchable_function_entries
// at the start of the padding; on arm64 __patchable_function_entries at
// the ops slot, 8 bytes before the symbol, where ftrace_call_adjust()
// expects it.
func TestPrefixRecords612(t *testing.T) {
	for _, tc := range []struct {
		arch, cc string
		records  map[string]int64 // section -> site, from the symbol
		// of untraced(), without padding: -pg still calls __fentry__ on x86-64
		untraced map[string]int64
	}{
		{"x86_64-612", "gcc", map[string]int64{"__mcount_loc": 4, elfdiff.PatchableSection: -16},
			map[string]int64{"__mcount_loc": 4}},
		{"arm64-612", arm64CC, map[string]int64{elfdiff.PatchableSection: -8}, nil},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			res := diffPairArch(t, tc.arch, "prefix")
			m, err := Generate(Input{ID: "t", Description: "test", Target: "vmlinux",
				Objects: []Object{{Rel: "prefix.o", Result: res}}, Exported: undefinedExported})
			if err != nil {
				t.Fatal(err)
			}
			f := assembleWith(t, tc.cc, m.Files["new.S"])
			want := map[string]map[string][]int64{}
			for sec := range tc.records {
				want[sec] = map[string][]int64{}
			}
			carried := 0
			for _, fd := range res.CarriedFunctions() {
				fn := fd.Post
				sec := sectionHolding(f, ".ksplice.text.", fn.Section.Data)
				if sec == nil {
					t.Fatalf("%s: no section of new.o holds its bytes, padding included", fd.Name)
				}
				lbl := carriedLabel(t, f, sec)
				records := tc.records
				if fn.Prefix == 0 {
					if fd.Name != "untraced" {
						t.Errorf("%s: no prefix", fd.Name)
					}
					records = tc.untraced
				} else {
					carried++
				}
				for s, site := range records {
					want[s][lbl] = append(want[s][lbl], int64(fn.Offset)+site)
				}
			}
			if carried == 0 {
				t.Fatal("no carried function with a prefix")
			}
			for s, w := range want {
				got := recordTargets(t, f, s)
				if len(got) != len(w) {
					t.Errorf("%s: records %v, want %v", s, got, w)
				}
				for lbl, adds := range w {
					if len(got[lbl]) != len(adds) || got[lbl][0] != adds[0] {
						t.Errorf("%s: records of %s at %v, want %v", s, lbl, got[lbl], adds)
					}
				}
			}
		})
	}
}

// carriedLabel returns the global symbol at the start of sec.
func carriedLabel(t *testing.T, f *elf.File, sec *elf.Section) string {
	t.Helper()
	syms, _ := f.Symbols()
	for _, s := range syms {
		if int(s.Section) < len(f.Sections) && f.Sections[s.Section] == sec && s.Value == 0 &&
			elf.ST_BIND(s.Info) == elf.STB_GLOBAL {
			return s.Name
		}
	}
	t.Fatalf("no global symbol at the start of %s", sec.Name)
	return ""
}
