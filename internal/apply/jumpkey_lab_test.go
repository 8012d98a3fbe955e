package apply_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// jumpKeySamples are sample patches whose carried code uses the running
// kernel's jump labels and static calls, each with its guest script
// (testdata/lab-scripts, sourced after lib.sh with the update as ./u.tar
// and its id in $ID) and lines its output must have.
var jumpKeySamples = []struct {
	patch, script string
	want          []string
	arm64         bool // also on arm64 (else x86-64 only)
}{
	// sched_getaffinity(): two jump labels on unexported keys of
	// vmlinux (schedstat_enabled()'s sched_schedstats and the
	// sched_process_hang tracepoint's key) and the tracepoint's static
	// call. The new code's event is in the trace exactly while both keys
	// are on, each flipped by its own knob.
	{"sched-getaffinity-trace-key", "trace-key.sh", []string{
		"ok: applied, event on, schedstats on: 1 events", "ok: applied, schedstats off: 0 events",
		"ok: applied, event off: 0 events", "ok: applied, event on again: 1 events", "ok: undone: 0 events"}, false},
	// __send_signal_locked(), whose old code calls the signal_generate
	// tracepoint's static call trampoline (issue 13, point 12: "the old
	// code ... does not refer to __SCT__tp_func_signal_generate").
	{"signal-generate-static-call", "signal-res.sh", []string{
		"ok: before apply: res=1", "ok: applied: res=65", "ok: undone: res=1"}, false},
	// A tracepoint added to cmdline_proc_show(): on arm64 its key is
	// found by the tracepoint's name (no data in kallsyms) and the call
	// goes to __traceiter_sched_process_hang through a veneer.
	{"proc-cmdline-tracepoint", "cmdline-trace.sh", []string{
		"ok: applied, event on: 1 events", "ok: applied, event off: 0 events", "ok: undone: 0 events"}, true},
}

// TestApplyJumpKeys creates each of jumpKeySamples, and applies, observes
// and undoes them one after the other in one boot, each script in a shell
// of its own, from a kernel the ones before left untouched.
func TestApplyJumpKeys(t *testing.T) {
	k := labtest.Kernel(t)
	arm64 := labtest.GOARCH(t, k) == "arm64"
	files := []lab.File{scriptFile(t)}
	script := ". ./lib.sh\n"
	for _, c := range jumpKeySamples {
		if arm64 && !c.arm64 {
			continue
		}
		res, tar := createSample(t, k, c.patch)
		sh, err := filepath.Abs(filepath.Join("../../testdata/lab-scripts", c.script))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, lab.File{Host: sh, Guest: "/root/" + c.script}, lab.File{Host: tar, Guest: "/root/" + c.patch + ".tar"})
		script += fmt.Sprintf("echo %s\n(ID=%s; cp %s u.tar; . ./%s) && echo %s\n",
			shq(observeMark+c.patch), shq(res.ID), shq(c.patch+".tar"), c.script, shq("PASS "+c.patch))
	}
	out := labtest.Run(t, lab.RunOptions{Files: files, Command: []string{"sh", "-c", script}})
	t.Logf("guest (boot %v, total %v)", out.Result.Boot.Round(time.Millisecond), out.Result.Total.Round(time.Millisecond))
	for _, c := range jumpKeySamples {
		t.Run(c.patch, func(t *testing.T) {
			if arm64 && !c.arm64 {
				// Their old code touches their file's statics, which
				// arm64 objects build differently (docs/lab.md).
				t.Skip("x86-64 only")
			}
			got, ok := observed(out.Stdout, c.patch)
			if !ok {
				t.Fatalf("the guest did not get to %s (exit %d):\n%s\n%s", c.patch, out.Result.ExitCode, out.Stdout, out.Stderr)
			}
			t.Logf("guest:\n%s", got)
			if !strings.Contains(got, "\nPASS "+c.patch+"\n") {
				t.Fatalf("guest script failed:\n%s\n%s", got, out.Stderr)
			}
			for _, want := range c.want {
				if !strings.Contains(got, want) {
					t.Errorf("guest output lacks %q", want)
				}
			}
		})
	}
}

// TestApplyJumpKeyReadOnly: usercopy-ro-key's carried __check_object_size()
// has a jump label on bypass_usercopy_checks, a key in .data..ro_after_init
// (DEFINE_STATIC_KEY_FALSE_RO). 6.1's jump_label_add_module() would write
// the key and fault: apply refuses the update naming the key, and the
// kernel is left as it was (a fault would show in the console and fail
// the run).
func TestApplyJumpKeyReadOnly(t *testing.T) {
	k := labtest.Kernel(t)
	if labtest.GOARCH(t, k) != "amd64" {
		t.Skip("mm/usercopy.o's key is found by name: x86-64's kallsyms has data")
	}
	_, tar := createSample(t, k, "usercopy-ro-key")
	script := `. ./lib.sh
untouched
run 3 ksplice apply --allow-unsigned u.tar
case "$out" in
*"unresolved_symbol: jump label key bypass_usercopy_checks at "*"is read-only"*) ok "refused: read-only key" ;;
*) fail "apply did not name the read-only key" ;;
esac
untouched
echo PASS
`
	out := labtest.Run(t, lab.RunOptions{
		Files:   []lab.File{scriptFile(t), {Host: tar, Guest: "/root/u.tar"}},
		Command: []string{"sh", "-c", script},
	})
	t.Logf("guest (boot %v, total %v):\n%s", out.Result.Boot.Round(time.Millisecond), out.Result.Total.Round(time.Millisecond), out.Stdout)
	if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
		t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
	}
}

// createSample creates the update of testdata/patches/PATCH.diff for k.
func createSample(t *testing.T, k *kbuild.Kernel, patch string) (*create.Result, string) {
	t.Helper()
	kmodSrc, err := filepath.Abs("../../kmod-src")
	if err != nil {
		t.Fatal(err)
	}
	p, err := srcpatch.ParseFile(filepath.Join("../../testdata/patches", patch+".diff"))
	if err != nil {
		t.Fatal(err)
	}
	tar := filepath.Join(t.TempDir(), patch+".tar")
	start := time.Now()
	res, err := create.Create(context.Background(), create.Options{
		Kernel: k, Patch: p, PatchName: patch + ".diff", Output: tar, KmodSrc: kmodSrc, Tool: "ksplice test",
	})
	if err != nil {
		t.Fatalf("create %s: %v", patch, err)
	}
	t.Logf("create %s: %v", patch, time.Since(start).Round(time.Millisecond))
	return res, tar
}
