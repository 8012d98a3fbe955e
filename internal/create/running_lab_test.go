package create

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// runningCases are updates whose old code the kernel's own build gives
// differently from the section build on arm64, applied, observed and undone.
var runningCases = []struct {
	patch string
	// read is the guest command that shows the update's effect, want
	// what it prints once applied.
	read, want string
	// check looks at the guest's output after the run; nil for none.
	check func(t *testing.T, stdout string)
	// anchored is set when the arm64 old code of some replaced function
	// differs from the section build's (what made it code_mismatch).
	anchored bool
}{
	// Two functions of net/ipv4/fib_semantics.c that reach their file's
	// statics (the arm64 kernel's own build addresses them through
	// section anchors, which -fdata-sections turns off; fib_nlmsg_size
	// also moves a loop's alignment): fib_sync_down_addr() prints the size
	// of the laddr hash table, a static the new code binds relative to the
	// anchor the old code uses. Before the old code came from the
	// kernel's own build this update failed run-pre on 6.1.0-55-arm64:
	// "code_mismatch: function fib_nlmsg_size: byte +0x24 differs".
	{patch: "fib-anchored-statics", anchored: true,
		read: `ip addr add 10.9.9.9/32 dev lo 2>&1; ip addr del 10.9.9.9/32 dev lo 2>&1; dmesg -c | grep -o "ksplice-test: fib_sync_down_addr 10.9.9.9 ([0-9]* buckets)"`,
		want: "ksplice-test: fib_sync_down_addr 10.9.9.9",
		check: func(t *testing.T, stdout string) {
			// fib_info_hash_bits read through the old code's
			// anchor: a table size (1 << bits, 16 at boot).
			m := regexp.MustCompile(`after apply: ksplice-test: fib_sync_down_addr 10\.9\.9\.9 \((\d+) buckets\)`).FindStringSubmatch(stdout)
			if m == nil {
				t.Fatalf("no bucket count after apply")
			}
			n, _ := strconv.ParseUint(m[1], 10, 64)
			if n < 16 || n > 1<<20 || n&(n-1) != 0 {
				t.Errorf("fib_sync_down_addr printed %d buckets: not a size of the laddr hash table", n)
			}
		}},
	// smaps_rollup_release(): mmdrop()'s atomic is an arm64 alternative
	// callback (LSE atomics: a branch alt_cb_patch_nops turns into a NOP
	// at boot) in its old and its new code.
	{patch: "smaps-rollup-alt-cb",
		read: `cat /proc/self/smaps_rollup > /dev/null; dmesg -c | grep -o "ksplice-test: smaps_rollup_release"`,
		want: "ksplice-test: smaps_rollup_release"},
}

// TestRunningOldCodeApplies creates each of runningCases, applies it in the
// lab, watches its effect and undoes it.
func TestRunningOldCodeApplies(t *testing.T) {
	k := labtest.Kernel(t)
	kmodSrc, err := FindKmodSrc(os.Getenv("KSPLICE_KMOD_SRC"))
	if err != nil {
		t.Fatal(err)
	}
	lib, err := filepath.Abs("../../testdata/lab-scripts/lib.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range runningCases {
		t.Run(c.patch, func(t *testing.T) {
			p, err := srcpatch.ParseFile(filepath.Join("../../testdata/patches", c.patch+".diff"))
			if err != nil {
				t.Fatal(err)
			}
			tar := filepath.Join(t.TempDir(), c.patch+".tar")
			res, err := Create(context.Background(), Options{Kernel: k, Patch: p, PatchName: c.patch + ".diff",
				Output: tar, KmodSrc: kmodSrc, Tool: "ksplice test"})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			// Where the kernel's compiler runs emulated and the host
			// has its cross compiler (arm64 6.1 on amd64), the section
			// builds are the cross compiler's: what follows then shows
			// that its new code applies and runs against old code
			// from the kernel's own compiler.
			t.Logf("compilers: %+v", *res.Compilers)
			if k.Toolchain != "" {
				cc, version, err := k.CrossCompiler(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if want := kbuild.PlanCompilers(k.Compiler, cc, version); res.Compilers.Cross != want.Cross || res.Compilers.Section != want.Section {
					t.Errorf("compilers %+v, want %+v", *res.Compilers, want)
				}
				if res.Compilers.Running != k.Compiler {
					t.Errorf("running build by %q, want the kernel's %q", res.Compilers.Running, k.Compiler)
				}
			}
			differ := 0
			for rel, d := range res.Diffs {
				if d.Running == nil {
					t.Fatalf("%s: no running object", rel)
				}
				for _, fd := range d.CarriedFunctions() {
					if fd.Pre == nil {
						continue
					}
					old, ok := d.OldCode(fd)
					if !ok {
						t.Fatalf("%s has no running counterpart", fd.Name)
					}
					same := bytes.Equal(old.Code, fd.Pre.Code)
					if !same {
						differ++
					}
					t.Logf("%s: running %d bytes, section build %d bytes, same: %v", fd.Name, old.Size, fd.Pre.Size, same)
				}
			}
			if c.anchored && k.Arch == "arm64" && differ == 0 {
				t.Errorf("no replaced function's running code differs from the section build's: the test no longer shows the class")
			}
			script := fmt.Sprintf(". ./lib.sh\nip link set lo up\nobserve %s %s %s %s\necho PASS\n",
				shellQuote(c.patch+".tar"), shellQuote(res.ID), shellQuote(c.read), shellQuote(c.want))
			out := labtest.Run(t, lab.RunOptions{
				Kernel:  k,
				Files:   []lab.File{{Host: lib, Guest: "/root/lib.sh"}, {Host: tar, Guest: "/root/" + c.patch + ".tar"}},
				Command: []string{"sh", "-c", script},
			})
			t.Logf("guest:\n%s", out.Stdout)
			if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
				t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
			}
			if c.check != nil {
				c.check(t, out.Stdout)
			}
		})
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
