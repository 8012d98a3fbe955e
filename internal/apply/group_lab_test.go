package apply_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
	"github.com/ksplice-go/ksplice/internal/update"
)

// TestApplyGroupAtomic: the two targets of multi-cmdline-ext4 (ext4 and
// vmlinux) switch together, in one stop_machine of the engine, on apply
// and on undo (the engine logs it, and both report the same stop_machine
// time); and an update whose second target fails run-pre matching leaves
// the first unapplied: not applied and taken back, never applied (no
// "applied" or "reversed" in the kernel log), with the reason of the
// target that failed.
func TestApplyGroupAtomic(t *testing.T) {
	k := labtest.Kernel(t)
	if labtest.GOARCH(t, k) != "amd64" {
		t.Skip("the sample update is checked on x86-64")
	}
	p, err := srcpatch.ParseFile("../../testdata/patches/multi-cmdline-ext4.diff")
	if err != nil {
		t.Fatal(err)
	}
	kmodSrc, _ := filepath.Abs("../../kmod-src")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tar")
	res, err := create.Create(context.Background(), create.Options{
		Kernel: k, Patch: p, PatchName: "multi-cmdline-ext4.diff", Output: good, KmodSrc: kmodSrc, Tool: "ksplice test",
	})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	if len(m.Targets) != 2 {
		t.Fatalf("targets %v, want vmlinux and ext4", m.Targets)
	}
	u, err := update.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	// The second target's old code with a byte changed, checksums
	// recomputed: its run-pre matching fails.
	files := map[string][]byte{}
	for n, b := range u.Files {
		files[n] = append([]byte(nil), b...)
	}
	mod := m.Targets[1].Module
	files[mod], _ = flipOldCode(t, files[mod])
	mm := u.Manifest
	var buf bytes.Buffer
	if err := update.Write(&buf, &mm, files); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.tar")
	if err := os.WriteFile(bad, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// e4 is the second target (which create orders after the first), vm
	// the first; whichever their names.
	vm, e4 := m.EngineID(m.Targets[0]), m.EngineID(m.Targets[1])
	script := `. ./lib.sh
K=/sys/kernel/ksplice
before=$(cat /proc/cmdline)
untouched
run 3 ksplice apply --allow-unsigned bad.tar
case "$out" in *"` + e4 + `: code_mismatch"*) ok "refused, naming the second target" ;; *) fail "refusal does not name ` + e4 + `" ;; esac
[ "$(cat /proc/cmdline)" = "$before" ] || fail "/proc/cmdline changed: $(cat /proc/cmdline)"
if dmesg | grep -E 'ksplice: [^ ]+: (applied|reversed)'; then fail "a target was switched"; fi
ok "the first target was never applied"
untouched
run 0 ksplice apply --allow-unsigned good.tar
case "$(cat /proc/cmdline)" in *" ksplice=patched"*) ok "applied" ;; *) fail "not applied" ;; esac
[ "$(cat $K/` + vm + `/stage) $(cat $K/` + e4 + `/stage)" = "applied applied" ] || fail "stages"
n1=$(cat $K/` + vm + `/stop_machine_total_ns); n2=$(cat $K/` + e4 + `/stop_machine_total_ns)
[ "$n1" = "$n2" ] || fail "two stop_machine rounds: $n1 and $n2 ns"
dmesg | grep -q 'applied with 1 other updates in one stop_machine' || fail "not applied in one stop_machine"
ok "both targets applied in one stop_machine of $n1 ns"
run 0 ksplice undo ` + m.ID + `
[ "$(cat /proc/cmdline)" = "$before" ] || fail "/proc/cmdline after undo: $(cat /proc/cmdline)"
dmesg | grep -q 'reversed with 1 other updates in one stop_machine' || fail "not reversed in one stop_machine"
ok "both targets reversed in one stop_machine"
untouched
echo PASS
`
	out := labtest.Run(t, lab.RunOptions{
		Files:   []lab.File{scriptFile(t), {Host: good, Guest: "/root/good.tar"}, {Host: bad, Guest: "/root/bad.tar"}},
		Modules: []string{"ext4"},
		Command: []string{"sh", "-c", script},
	})
	t.Logf("guest (boot %v, total %v):\n%s", out.Result.Boot.Round(time.Millisecond), out.Result.Total.Round(time.Millisecond), out.Stdout)
	if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
		t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
	}
}
