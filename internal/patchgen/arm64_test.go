package patchgen

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

const arm64CC = "aarch64-linux-gnu-gcc"

// sectionHolding returns the section of f whose bytes are data, or nil.
func sectionHolding(f *elf.File, prefix string, data []byte) *elf.Section {
	for _, s := range f.Sections {
		if strings.HasPrefix(s.Name, prefix) && s.Size == uint64(len(data)) {
			if b, _ := s.Data(); bytes.Equal(b, data) {
				return s
			}
		}
	}
	return nil
}

// relocsOf returns the relocations of section s of f, with their symbols'
// names, as "OFF TYPE SYM+ADDEND".
func relocsOf(t *testing.T, f *elf.File, s *elf.Section) []string {
	t.Helper()
	rela := f.Section(".rela" + s.Name)
	if rela == nil {
		return nil
	}
	b, err := rela.Data()
	if err != nil {
		t.Fatal(err)
	}
	syms, _ := f.Symbols()
	var out []string
	for i := 0; i+24 <= len(b); i += 24 {
		off := f.ByteOrder.Uint64(b[i:])
		info := f.ByteOrder.Uint64(b[i+8:])
		add := int64(f.ByteOrder.Uint64(b[i+16:]))
		name := "?"
		if si := int(info >> 32); si > 0 && si <= len(syms) {
			name = syms[si-1].Name
			if name == "" && int(syms[si-1].Section) < len(f.Sections) {
				name = f.Sections[syms[si-1].Section].Name
			}
		}
		out = append(out, fmt.Sprintf("%#x %v %s%+d", off, elf.R_AARCH64(uint32(info)), name, add))
	}
	return out
}

// TestNewCodeRoundTripARM64 is TestNewCodeRoundTrip for AArch64 objects:
// new.S, assembled by the cross compiler, holds exactly the carried
// functions' bytes, a relocation for each the module loader resolves
// (R_AARCH64_* by name in .reloc), and the ftrace site of each carried
// function in __patchable_function_entries, not __mcount_loc.
func TestNewCodeRoundTripARM64(t *testing.T) {
	for _, pair := range []string{"newfunc", "body", "strings", "statics"} {
		t.Run(pair, func(t *testing.T) {
			res := diffPairArch(t, "arm64", pair)
			m, err := Generate(Input{ID: "t", Description: "test", Target: "vmlinux",
				Objects: []Object{{Rel: pair + ".o", Result: res}}, Exported: undefinedExported, Hooks: onlyNewHooks(pair)})
			if err != nil {
				t.Fatal(err)
			}
			src := string(m.Files["new.S"])
			if strings.Contains(src, "__mcount_loc") {
				t.Error("new.S records ftrace sites in __mcount_loc on arm64")
			}
			f := assembleWith(t, arm64CC, m.Files["new.S"])
			if f.Machine != elf.EM_AARCH64 {
				t.Fatalf("new.o is %v", f.Machine)
			}
			sites := 0
			for _, fd := range res.CarriedFunctions() {
				fn := fd.Post
				sec := sectionHolding(f, ".ksplice.text.", fn.Section.Data)
				if sec == nil {
					t.Fatalf("%s: no section of new.o holds its bytes", fd.Name)
				}
				if fn.FtraceSite >= 0 {
					sites++
				}
				var want int
				for _, r := range fn.Relocs {
					if r.Info.Kind != 0 && (r.Sym.Section == nil || r.Sym.Section.Kind == elfdiff.KindStrings || r.Sym.Function() != nil && r.Sym.Function().Section == fn.Section) {
						want++
					}
				}
				got := relocsOf(t, f, sec)
				if len(got) < want {
					t.Errorf("%s: %d relocations in new.o, want at least %d: %v", fd.Name, len(got), want, got)
				}
				for _, r := range got {
					if !strings.Contains(r, "R_AARCH64_") {
						t.Errorf("%s: relocation %s is not an AArch64 one", fd.Name, r)
					}
				}
			}
			// Ordered after the code, as gcc makes them: ld refuses to
			// mix ordered and unordered sections of one name.
			entries := 0
			for _, s := range f.Sections {
				if s.Name != "__patchable_function_entries" {
					continue
				}
				entries += int(s.Size / 8)
				if s.Flags&elf.SHF_LINK_ORDER == 0 {
					t.Errorf("__patchable_function_entries without SHF_LINK_ORDER: %v", s.Flags)
				}
				for _, r := range relocsOf(t, f, s) {
					if !strings.Contains(r, "R_AARCH64_ABS64 ksplice_n") {
						t.Errorf("__patchable_function_entries entry %s, want R_AARCH64_ABS64 to carried code", r)
					}
				}
			}
			if entries != sites {
				t.Errorf("%d __patchable_function_entries entries, want %d", entries, sites)
			}
		})
	}
}

// TestEngineCallsGoThroughVeneerARM64 checks calls from new code to a
// static function of the running kernel on arm64: "bl" reaches 128 MiB and
// modules lie up to 2 GiB away, so the call goes to a veneer of the update
// module ("ldr x16, .+8; br x16; .quad"), whose literal the engine writes
// (R_AARCH64_ABS64, resolved through the caller's old code). Two calls to
// the same target share one veneer.
func TestEngineCallsGoThroughVeneerARM64(t *testing.T) {
	res := diffPairArch(t, "arm64", "calls")
	m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "calls.o", Result: res}},
		Exported: func(string) bool { return false }})
	if err != nil {
		t.Fatal(err)
	}
	tables := namedOldFuncs(string(m.Files["tables.c"]))
	want := fmt.Sprintf(`{ .place = (void *)(ksplice_v0 + 0x8), .type = %d, .symbol = "scale", .old_func = "use", .addend = 0 }`, elf.R_AARCH64_ABS64)
	if !strings.Contains(tables, want) || strings.Count(tables, ".place =") != 1 {
		t.Errorf("tables.c: want exactly one engine relocation %s:\n%s", want, tables)
	}
	if !strings.Contains(tables, "extern char ksplice_v0[];") {
		t.Error("tables.c does not declare the veneer")
	}
	src := string(m.Files["new.S"])
	if strings.Contains(src, "ksplice_placeholder") {
		t.Error("new.S uses the placeholder trap on arm64; calls go through veneers")
	}
	f := assembleWith(t, arm64CC, m.Files["new.S"])
	v := f.Section(".ksplice.text.veneer")
	if v == nil {
		t.Fatal("new.o has no veneer section")
	}
	b, _ := v.Data()
	wantV := []byte{0x50, 0x00, 0x00, 0x58, 0x00, 0x02, 0x1f, 0xd6, 0, 0, 0, 0, 0, 0, 0, 0}
	if !bytes.Equal(b, wantV) {
		t.Errorf("veneer bytes % x, want % x", b, wantV)
	}
	var use *elfdiff.Function
	for _, fd := range res.CarriedFunctions() {
		if fd.Name == "use" {
			use = fd.Post
		}
	}
	if use == nil {
		t.Fatal("use is not carried")
	}
	got := relocsOf(t, f, sectionHolding(f, ".ksplice.text.", use.Section.Data))
	if len(got) != 2 || !strings.HasSuffix(got[0], "R_AARCH64_CALL26 ksplice_v0+0") || !strings.HasSuffix(got[1], "R_AARCH64_CALL26 ksplice_v0+0") {
		t.Errorf("use's relocations in new.o: %v, want two R_AARCH64_CALL26 to ksplice_v0", got)
	}
}

// TestJumpSiteARM64 checks the run-pre data of arm64 old code with a jump
// label: the site is one 4-byte instruction (b or nop) whose target lies
// inside the function, and the __patchable_function_entries record is not
// taken for a relocation of the code.
func TestJumpSiteARM64(t *testing.T) {
	res := diffPairArch(t, "arm64", "special")
	g := &gen{labels: map[*elfdiff.Section]string{}}
	for _, fd := range res.CarriedFunctions() {
		if fd.Name != "changed" || fd.Pre == nil {
			continue
		}
		r, err := g.oldFunc(res.Pre.Arch, fd.Pre, "new")
		if err != nil {
			t.Fatal(err)
		}
		var jl []site
		for _, s := range r.sites {
			if s.kind == siteJumpLabel {
				jl = append(jl, s)
			}
		}
		if len(jl) != 1 {
			t.Fatalf("jump label sites %+v, want one", jl)
		}
		s := jl[0]
		if s.len != 4 || s.off%4 != 0 || s.target <= 0 || uint64(s.target) >= fd.Pre.Size {
			t.Errorf("jump label site %+v: want 4 bytes, aligned, target inside the %d-byte function", s, fd.Pre.Size)
		}
		if fd.Pre.FtraceSite != 0 {
			t.Errorf("ftrace site at %d, want 0 (the patchable NOPs)", fd.Pre.FtraceSite)
		}
		return
	}
	t.Fatal("changed() is not replaced")
}

// TestNewCodeLinksWithCARM64 links new.o with an object gcc made with
// -fpatchable-function-entry=2, as Kbuild links new.o with tables.o: both
// must record their ftrace sites in compatible __patchable_function_entries
// sections (ld: "has both ordered and unordered sections" otherwise).
func TestNewCodeLinksWithCARM64(t *testing.T) {
	res := diffPairArch(t, "arm64", "body")
	m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "body.o", Result: res}}, Exported: undefinedExported})
	if err != nil {
		t.Fatal(err)
	}
	f := assembleWith(t, arm64CC, m.Files["new.S"])
	f.Close()
	dir := t.TempDir()
	newS := filepath.Join(dir, "new.S")
	cfile := filepath.Join(dir, "tables.c")
	if err := os.WriteFile(newS, m.Files["new.S"], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfile, []byte("int ksplice_t(int x) { return x + 1; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{
		{arm64CC, "-c", newS, "-o", filepath.Join(dir, "new.o")},
		{arm64CC, "-O2", "-fpatchable-function-entry=2", "-c", cfile, "-o", filepath.Join(dir, "tables.o")},
		{"aarch64-linux-gnu-ld", "-r", "-o", filepath.Join(dir, "m.o"), filepath.Join(dir, "tables.o"), filepath.Join(dir, "new.o")},
	} {
		if b, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(c, " "), err, b)
		}
	}
}
