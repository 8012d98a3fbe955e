package apply_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// TestApplyKeepModule: an update whose new code queues a delayed work item
// with a new function (testdata/patches/proc-cmdline-workqueue.diff) is
// marked by create to keep its module; ksplice undo while the work is
// pending reverses it but leaves the module loaded, ksplice list shows it
// reversed-kept with the reason, the work runs 10 s after the read from the
// kept module (no oops: the console is checked), and applying the update
// again reuses the loaded module.
func TestApplyKeepModule(t *testing.T) {
	k := labtest.Kernel(t)
	if labtest.GOARCH(t, k) != "amd64" {
		t.Skip("the patch is checked on x86-64")
	}
	p, err := srcpatch.ParseFile("../../testdata/patches/proc-cmdline-workqueue.diff")
	if err != nil {
		t.Fatal(err)
	}
	kmodSrc, _ := filepath.Abs("../../kmod-src")
	tar := filepath.Join(t.TempDir(), "wq.tar")
	res, err := create.Create(context.Background(), create.Options{
		Kernel: k, Patch: p, PatchName: "proc-cmdline-workqueue.diff", ID: "cmdline_wq",
		Output: tar, KmodSrc: kmodSrc, Tool: "ksplice test",
	})
	if err != nil {
		t.Fatal(err)
	}
	keep := res.Manifest.Targets[0].Keep
	if len(keep) == 0 || !strings.Contains(strings.Join(keep, "\n"), "cmdline_read_note, which only the update module has") {
		t.Fatalf("manifest: keep reasons %q, want the address of cmdline_read_note", keep)
	}
	script := `. ./lib.sh
untouched
run 0 ksplice apply --allow-unsigned wq.tar
expect_queued() { case "$(cat /proc/cmdline)" in *" ksplice=queued"*) ok "$1" ;; *) fail "$1: /proc/cmdline is $(cat /proc/cmdline)" ;; esac; }
expect_queued "applied"
run 0 ksplice undo cmdline_wq
case "$(cat /proc/cmdline)" in *ksplice=queued*) fail "still applied after undo" ;; esac
dmesg | grep -q 'a read of /proc/cmdline noted' && fail "the work ran before the test could undo"
ok "undone while the work is pending"
lsmod | grep -q '^ksplice_cmdline_wq_vmlinux' || fail "the update module was unloaded"
ok "module kept loaded"
run 0 ksplice list
case "$out" in *reversed-kept*"cmdline_wq: undone, module ksplice_cmdline_wq_vmlinux kept loaded: "*cmdline_read_note*) ok "listed as reversed-kept with the reason" ;; *) fail "ksplice list" ;; esac
run 0 ksplice list --json
case "$out" in *'"stage": "reversed-kept"'*'"kept": ['*'"vmlinux"'*) ok "json: stage reversed-kept, kept target vmlinux" ;; *) fail "ksplice list --json" ;; esac
i=0
while ! dmesg | grep -q 'a read of /proc/cmdline noted' && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
dmesg | grep -q 'a read of /proc/cmdline noted' || fail "the work did not run"
ok "the work ran from the kept module"
run 0 ksplice apply --allow-unsigned wq.tar
case "$out" in *"kept by an earlier undo"*) ok "apply again reuses the kept module" ;; *) fail "apply again did not reuse the module" ;; esac
expect_queued "applied again"
run 0 ksplice undo cmdline_wq
sleep 12
echo PASS
`
	out := labtest.Run(t, lab.RunOptions{
		Files:   []lab.File{scriptFile(t), {Host: tar, Guest: "/root/wq.tar"}},
		Command: []string{"sh", "-c", script},
	})
	t.Logf("guest (boot %v, total %v):\n%s", out.Result.Boot.Round(time.Millisecond), out.Result.Total.Round(time.Millisecond), out.Stdout)
	if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
		t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
	}
}
