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

	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// TestRunningOldCodeApplies creates an update of two functions of
// net/ipv4/fib_semantics.c that reach their file's statics (the arm64
// kernel's own build addresses them through section anchors, which
// -fdata-sections turns off), applies it in the lab, watches
// fib_sync_down_addr() print the size of the laddr hash table (a static the
// new code binds relative to the anchor the old code uses), and undoes it.
// On arm64 the section-built old code of fib_sync_down_addr differs from
// the running kernel's, so that before the old code came from the kernel's
// own build this update failed run-pre (code_mismatch).
func TestRunningOldCodeApplies(t *testing.T) {
	k := labtest.Kernel(t)
	const name = "fib-anchored-statics"
	p, err := srcpatch.ParseFile(filepath.Join("../../testdata/patches", name+".diff"))
	if err != nil {
		t.Fatal(err)
	}
	kmodSrc, err := FindKmodSrc(os.Getenv("KSPLICE_KMOD_SRC"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tar := filepath.Join(dir, name+".tar")
	res, err := Create(context.Background(), Options{Kernel: k, Patch: p, PatchName: name + ".diff",
		Output: tar, KmodSrc: kmodSrc, Tool: "ksplice test"})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	d := res.Diffs["net/ipv4/fib_semantics.o"]
	if d == nil || d.Running == nil {
		t.Fatalf("no diff of fib_semantics.o with a running object: %+v", d)
	}
	differ := 0
	for _, fd := range d.CarriedFunctions() {
		if fd.Pre == nil {
			continue
		}
		old, ok := d.OldCode(fd)
		if !ok {
			t.Fatalf("%s has no running counterpart", fd.Name)
		}
		if !bytes.Equal(old.Code, fd.Pre.Code) {
			differ++
		}
		t.Logf("%s: running %d bytes, section build %d bytes, same: %v", fd.Name, old.Size, fd.Pre.Size, bytes.Equal(old.Code, fd.Pre.Code))
	}
	if k.Arch == "arm64" && differ == 0 {
		t.Errorf("no replaced function's running code differs from the section build's: the test no longer shows the class")
	}

	read := `ip addr add 10.9.9.9/32 dev lo 2>&1; ip addr del 10.9.9.9/32 dev lo 2>&1; dmesg -c | grep -o "ksplice-test: fib_sync_down_addr 10.9.9.9 ([0-9]* buckets)"`
	script := fmt.Sprintf(". ./lib.sh\nip link set lo up\nobserve %s %s %s %s\necho PASS\n",
		shellQuote(name+".tar"), shellQuote(res.ID), shellQuote(read), shellQuote("ksplice-test: fib_sync_down_addr 10.9.9.9"))
	lib, err := filepath.Abs("../../testdata/lab-scripts/lib.sh")
	if err != nil {
		t.Fatal(err)
	}
	out := labtest.Run(t, lab.RunOptions{
		Kernel:  k,
		Files:   []lab.File{{Host: lib, Guest: "/root/lib.sh"}, {Host: tar, Guest: "/root/" + name + ".tar"}},
		Command: []string{"sh", "-c", script},
	})
	t.Logf("guest:\n%s", out.Stdout)
	if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
		t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
	}
	// The new code read fib_info_hash_bits through the old code's anchor:
	// a table size (1 << bits, 16 at boot), not whatever lies elsewhere.
	m := regexp.MustCompile(`after apply: ksplice-test: fib_sync_down_addr 10\.9\.9\.9 \((\d+) buckets\)`).FindStringSubmatch(out.Stdout)
	if m == nil {
		t.Fatalf("no bucket count after apply")
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	if n < 16 || n > 1<<20 || n&(n-1) != 0 {
		t.Errorf("fib_sync_down_addr printed %d buckets: not a size of the laddr hash table", n)
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
