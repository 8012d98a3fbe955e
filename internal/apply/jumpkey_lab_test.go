package apply_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// TestApplyJumpKeys creates sched-getaffinity-trace-key, whose carried
// sched_getaffinity() has two jump labels on unexported keys of vmlinux
// (schedstat_enabled()'s sched_schedstats and the sched_process_hang
// tracepoint's key) and calls the tracepoint's static call trampoline; the
// lab applies it and flips each key by its own knob
// (testdata/lab-scripts/trace-key.sh): the new code's event is in the
// trace exactly while both are on, and never before apply or after undo.
func TestApplyJumpKeys(t *testing.T) {
	k := labtest.Kernel(t)
	const patch = "sched-getaffinity-trace-key"
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
		t.Fatalf("create: %v", err)
	}
	t.Logf("create %s: %v", patch, time.Since(start).Round(time.Millisecond))
	keys, err := filepath.Abs("../../testdata/lab-scripts/trace-key.sh")
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(". ./lib.sh\nID=%s\n. ./trace-key.sh\necho PASS\n", shq(res.ID))
	out := labtest.Run(t, lab.RunOptions{
		Files: []lab.File{scriptFile(t), {Host: keys, Guest: "/root/trace-key.sh"},
			{Host: tar, Guest: "/root/u.tar"}},
		Command: []string{"sh", "-c", script},
	})
	t.Logf("guest (boot %v, total %v):\n%s", out.Result.Boot.Round(time.Millisecond), out.Result.Total.Round(time.Millisecond), out.Stdout)
	if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
		t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
	}
	for _, want := range []string{"ok: applied, schedstats off: 0 events", "ok: applied, event on again: 1 events", "ok: undone: 0 events"} {
		if !strings.Contains(out.Stdout, want) {
			t.Errorf("guest output lacks %q", want)
		}
	}
}
