package patchgen

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

// TestAddressOfReplacedFunctionIsTheOriginal: publish() stores the address
// of handle(), which the update also replaces. The copy of publish() must
// store the running kernel's handle() (an engine relocation bound to
// handle's own entry in the tables, resolved to the address run-pre
// matched), never the update module's copy: a pointer into the module
// would outlive its unloading. Nothing else is published, so the module
// need not be kept.
func TestAddressOfReplacedFunctionIsTheOriginal(t *testing.T) {
	for _, c := range []struct{ arch, cc string }{{"x86_64", "gcc"}, {"arm64", arm64CC}} {
		t.Run(c.arch, func(t *testing.T) {
			res := diffPairArch(t, c.arch, "funcptr")
			m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "funcptr.o", Result: res}},
				Exported: func(string) bool { return false }})
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			tables := string(m.Files["tables.c"])
			// handle's index among the replaced functions.
			names := regexp.MustCompile(`\.name = "([^"\\]+)`).FindAllStringSubmatch(tables, -1)
			idx := -1
			for i, n := range names {
				if n[1] == "handle" {
					idx = i
				}
			}
			if idx < 0 {
				t.Fatalf("handle is not a replaced function:\n%s", tables)
			}
			re := regexp.MustCompile(`\{ \.place = \(void \*\)\(?(ksplice_n\d+)(?: \+ (0x[0-9a-f]+))?\)?, \.type = \d+, \.symbol = "handle", \.old_func = &ksplice_funcs\[(\d+)\]`)
			refs := re.FindAllStringSubmatch(tables, -1)
			if len(refs) == 0 {
				t.Fatalf("no engine relocation binds the address of handle to its original:\n%s", tables)
			}
			for _, r := range refs {
				if r[3] != strconv.Itoa(idx) {
					t.Errorf("the address of handle is bound through ksplice_funcs[%s], want [%d] (handle itself)", r[3], idx)
				}
			}
			// No relocation of the assembled new code points at the
			// copy of handle.
			f := assembleWith(t, c.cc, m.Files["new.S"])
			syms, _ := f.Symbols()
			handleLabel := ""
			for _, s := range syms {
				if s.Name == "handle.ksplice" {
					for _, l := range syms {
						if strings.HasPrefix(l.Name, "ksplice_n") && l.Section == s.Section && l.Value == s.Value {
							handleLabel = l.Name
						}
					}
				}
			}
			if handleLabel == "" {
				t.Fatalf("new.S has no copy of handle")
			}
			for _, s := range f.Sections {
				if strings.HasPrefix(s.Name, ".ksplice.text.ksplice_n") || strings.HasPrefix(s.Name, ".ksplice.data") {
					if n := relocsTo(t, f, s, syms, handleLabel); n != 0 {
						t.Errorf("%s has %d relocations to the update's copy of handle (%s)", s.Name, n, handleLabel)
					}
				}
			}
			if len(m.Keep) != 0 || strings.Contains(tables, "KSPLICE_UPDATE_KEEP_MODULE") {
				t.Errorf("update marked to be kept: %q", m.Keep)
			}
		})
	}
}

// TestAddressOfNewFunctionKeepsTheModule: publish() now stores the address
// of a new function, which only the update module has: the update is
// marked KSPLICE_UPDATE_KEEP_MODULE, with the reason.
func TestAddressOfNewFunctionKeepsTheModule(t *testing.T) {
	for _, c := range []struct{ arch, cc string }{{"x86_64", "gcc"}, {"arm64", arm64CC}} {
		t.Run(c.arch, func(t *testing.T) {
			res := diffPairArch(t, c.arch, "funcptrnew")
			m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "funcptrnew.o", Result: res}},
				Exported: func(string) bool { return false }})
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			want := "funcptrnew.o: publish takes the address of handle_checked, which only the update module has"
			if len(m.Keep) != 1 || m.Keep[0] != want {
				t.Errorf("Keep = %q, want [%q]", m.Keep, want)
			}
			if !strings.Contains(string(m.Files["tables.c"]), "KSPLICE_UPDATE_KEEP_MODULE,\n") {
				t.Errorf("tables.c does not set KSPLICE_UPDATE_KEEP_MODULE:\n%s", m.Files["tables.c"])
			}
		})
	}
}

// TestAccessOnly: reading or writing carried data in place is not taking
// its address; lea, an absolute address and references from data are.
func TestAccessOnly(t *testing.T) {
	x86, err := arch.ByName("x86_64")
	if err != nil {
		t.Fatal(err)
	}
	arm, err := arch.ByName("arm64")
	if err != nil {
		t.Fatal(err)
	}
	typ := func(a *arch.Arch, name string) uint32 {
		for i := uint32(0); i < 1100; i++ {
			if a.RelocName(i) == name {
				return i
			}
		}
		t.Fatalf("%s: no relocation type %s", a.Name, name)
		return 0
	}
	// incq 0x0(%rip); lea 0x0(%rip),%rdi
	code := []byte{0x48, 0xff, 0x05, 0, 0, 0, 0, 0x48, 0x8d, 0x3d, 0, 0, 0, 0}
	for _, c := range []struct {
		a    *arch.Arch
		code []byte
		off  uint64
		rel  string
		want bool
	}{
		{x86, code, 3, "R_X86_64_PC32", true},
		{x86, code, 10, "R_X86_64_PC32", false},
		{x86, code, 3, "R_X86_64_32S", false},
		{x86, nil, 0, "R_X86_64_64", false},
		{arm, make([]byte, 8), 0, "R_AARCH64_ADR_PREL_PG_HI21", true},
		{arm, make([]byte, 8), 4, "R_AARCH64_LDST64_ABS_LO12_NC", true},
		{arm, make([]byte, 8), 4, "R_AARCH64_ADD_ABS_LO12_NC", false},
	} {
		r := elfdiff.Reloc{Offset: c.off, Type: typ(c.a, c.rel)}
		if got := accessOnly(c.a, c.code, r); got != c.want {
			t.Errorf("%s %s at %d: accessOnly %v, want %v", c.a.Name, c.rel, c.off, got, c.want)
		}
	}
}
