package create

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
	"github.com/ksplice-go/ksplice/internal/kbuild"
)

// TestCheckDynamicStack checks that new code made by a cross compiler whose
// difference from the kernel's matters only with dynamic stack allocation
// (gcc 12.2.0-14 and 12.2.0-14+deb12u1, CVE-2023-4039) is sent back to the
// kernel's compiler exactly when a carried function allocates stack at run
// time, on code the cross compiler made.
func TestCheckDynamicStack(t *testing.T) {
	cc := "aarch64-linux-gnu-gcc-12"
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("%s not installed (make deps)", cc)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "x.c")
	os.WriteFile(src, []byte(`void use(char *);
void fixed(void) { char b[64]; use(b); }
void dyn(unsigned long n) { char *p = __builtin_alloca(n); use(p); }
`), 0o644)
	obj := filepath.Join(dir, "x.o")
	if out, err := exec.Command(cc, "-O2", "-fno-PIE", "-fstack-protector-strong", "-mstack-protector-guard=sysreg", "-mstack-protector-guard-reg=sp_el0", "-mstack-protector-guard-offset=0", "-ffunction-sections", "-c", src, "-o", obj).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", cc, err, out)
	}
	p := Pair{Rel: "x.o", Post: obj}
	for _, tc := range []struct {
		name    string
		plan    kbuild.CompilerPlan
		arch    string
		carried []string
		again   bool
	}{
		{"fixed frame", kbuild.CompilerPlan{Cross: true, NoDynamicStack: true}, "arm64", []string{"fixed"}, false},
		{"alloca", kbuild.CompilerPlan{Cross: true, NoDynamicStack: true}, "arm64", []string{"fixed", "dyn"}, true},
		{"same compiler build", kbuild.CompilerPlan{Cross: true}, "arm64", []string{"dyn"}, false},
		{"exact", kbuild.CompilerPlan{}, "arm64", []string{"dyn"}, false},
		{"not arm64", kbuild.CompilerPlan{Cross: true, NoDynamicStack: true}, "amd64", []string{"fixed"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := tc.plan
			c := &creation{k: &kbuild.Kernel{Arch: tc.arch}, res: &Result{Compilers: &plan}}
			d := &elfdiff.Result{Carry: elfdiff.Carry{Functions: tc.carried}}
			err := c.checkDynamicStack(p, d)
			var again *exactAgain
			if errors.As(err, &again) != tc.again {
				t.Errorf("err = %v, want exactAgain: %v", err, tc.again)
			}
			if err != nil && !tc.again {
				t.Errorf("err = %v", err)
			}
		})
	}
}
