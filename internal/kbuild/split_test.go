package kbuild

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestPlanCompilers checks the decision of which compiler makes the section
// builds, on the version lines of the compilers met here: Debian 12's native
// gcc-12 (12.2.0-14+deb12u1, Debian's 6.1 arm64 kernels), its cross
// compiler (12.2.0-14), and made-up neighbours.
func TestPlanCompilers(t *testing.T) {
	const (
		native   = "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"
		cross    = "aarch64-linux-gnu-gcc-12 (Debian 12.2.0-14) 12.2.0"
		crossCC  = "aarch64-linux-gnu-gcc-12"
		crossU1  = "aarch64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"
		crossU2  = "aarch64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u2) 12.2.0"
		cross13  = "aarch64-linux-gnu-gcc-12 (Debian 12.3.0-1) 12.3.0"
		native14 = "gcc-12 (Debian 12.2.0-14) 12.2.0"
	)
	for _, tc := range []struct {
		name, kernel, crossCC, cross string
		want                         CompilerPlan
		note                         string // a part of Note
	}{
		{"known CVE-2023-4039 difference", native, crossCC, cross,
			CompilerPlan{Running: native, Section: cross, Cross: true, CrossCC: crossCC, NoDynamicStack: true}, "CVE-2023-4039"},
		{"same Debian build", native, crossCC, crossU1,
			CompilerPlan{Running: native, Section: crossU1, Cross: true, CrossCC: crossCC}, "same gcc build"},
		{"same build, older revision", native14, crossCC, cross,
			CompilerPlan{Running: native14, Section: cross, Cross: true, CrossCC: crossCC}, "same gcc build"},
		// The known difference is one way: a kernel built by 12.2.0-14
		// and a cross compiler with the fix would give its new code a
		// layout the kernel never had, which is harmless, but the rule
		// accepts only what was read.
		{"difference the other way", native14, crossCC, crossU1,
			CompilerPlan{Running: native14, Section: native14}, "not known"},
		{"unknown revision", native, crossCC, crossU2,
			CompilerPlan{Running: native, Section: native}, "not known"},
		{"other release", native, crossCC, cross13,
			CompilerPlan{Running: native, Section: native}, "gcc 12.3.0"},
		{"no cross compiler", native, "", "",
			CompilerPlan{Running: native, Section: native}, "no cross compiler"},
		{"not gcc", "clang version 16.0.6", crossCC, cross,
			CompilerPlan{Running: "clang version 16.0.6", Section: "clang version 16.0.6"}, "not a Debian gcc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := PlanCompilers(tc.kernel, tc.crossCC, tc.cross)
			if !strings.Contains(got.Note, tc.note) {
				t.Errorf("note %q does not say %q", got.Note, tc.note)
			}
			got.Note = ""
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestConfigDiff(t *testing.T) {
	a := "# comment\nCONFIG_CC_VERSION_TEXT=\"gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0\"\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=y\n"
	same := "# other comment\nCONFIG_CC_VERSION_TEXT=\"aarch64-linux-gnu-gcc-12 (Debian 12.2.0-14) 12.2.0\"\nCONFIG_A=y\nCONFIG_C=y\n# CONFIG_D is not set\n"
	if d := configDiff([]byte(a), []byte(same)); len(d) != 0 {
		t.Errorf("configs differing only in compiler text and comments: %q", d)
	}
	other := "CONFIG_CC_VERSION_TEXT=\"x\"\nCONFIG_A=m\nCONFIG_B=y\nCONFIG_C=y\n"
	want := []string{"+CONFIG_A=m", "+CONFIG_B=y", "-CONFIG_A=y"} // sorted
	if d := configDiff([]byte(a), []byte(other)); !reflect.DeepEqual(d, want) {
		t.Errorf("got %q, want %q", d, want)
	}
}

// TestEmulatedCCache checks which compilers run through ccache by a
// rewritten CC, and that their results are keyed by what the compiler
// says of itself, not by the driver script's mtime.
func TestEmulatedCCache(t *testing.T) {
	if _, err := exec.LookPath("ccache"); err != nil {
		t.Skip("ccache not installed (make deps)")
	}
	driver := filepath.Join(t.TempDir(), "kgcc")
	for _, tc := range []struct {
		name, cc, off string
		wrapped       bool
	}{
		{"emulated driver", driver, "", true},
		{"cache off", driver, "0", false},
		{"host compiler by name", "gcc-12", "", false},
		{"host compiler with a ccache link", "/usr/bin/gcc-12", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KSPLICE_CCACHE", tc.off)
			if tc.name == "host compiler with a ccache link" {
				if _, err := os.Stat(filepath.Join(CCacheLinks, "gcc-12")); err != nil {
					t.Skip("no ccache link gcc-12")
				}
			}
			cc, env := emulatedCCache(tc.cc)
			if (cc != "") != tc.wrapped {
				t.Fatalf("CC %q, wrapped %v; want wrapped %v", cc, cc != "", tc.wrapped)
			}
			if !tc.wrapped {
				return
			}
			if !strings.HasSuffix(cc, "ccache "+tc.cc) {
				t.Errorf("CC %q, want ccache %s", cc, tc.cc)
			}
			if !slices.Contains(env, "CCACHE_COMPILERCHECK=%compiler% -v") {
				t.Errorf("env %q does not key results by the compiler's -v", env)
			}
			mk := Tree{MakeVars: []string{"CC=" + tc.cc}}.Make("-C", "/src", "CC="+tc.cc, "all")
			if !slices.Contains(mk.Args, "CC="+cc) {
				t.Errorf("make %q does not run CC through ccache", mk.Args)
			}
		})
	}
}
