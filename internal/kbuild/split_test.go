package kbuild

import (
	"reflect"
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
