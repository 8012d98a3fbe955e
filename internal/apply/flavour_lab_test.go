package apply_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// TestApplyFlavours fills the portability matrix's create, apply / undo
// and function tracer cells of a flavour: on each kernel of
// KSPLICE_LAB_APPLY_FLAVOURS (`make flavours` lists all twelve), it
// creates proc-cmdline-string against the flavour's own prepared tree
// (fetched in full: source, toolchain, prepare), and in a guest applies
// it, sees /proc/cmdline change, traces cmdline_proc_show with the
// function tracer while applied, undoes and re-applies while traced, and
// undoes (tracedScript). Not in make test: a flavour's first full fetch
// and create take 3 to 7 minutes; make test's update tests cover one
// flavour per series and architecture.
func TestApplyFlavours(t *testing.T) {
	specs := strings.Fields(strings.ReplaceAll(os.Getenv("KSPLICE_LAB_APPLY_FLAVOURS"), ",", " "))
	if len(specs) == 0 {
		t.Skip("set KSPLICE_LAB_APPLY_FLAVOURS (make flavours does) to the flavours to update")
	}
	const patch = "proc-cmdline-string"
	for _, spec := range specs {
		t.Run(strings.TrimPrefix(spec, "debian:"), func(t *testing.T) {
			start := time.Now()
			k := labtest.KernelFor(t, spec)
			t.Logf("fetch: %v", time.Since(start).Round(time.Second))
			p, err := srcpatch.ParseFile("../../testdata/patches/" + patch + ".diff")
			if err != nil {
				t.Fatal(err)
			}
			kmodSrc, _ := filepath.Abs("../../kmod-src")
			out := filepath.Join(t.TempDir(), "u.tar")
			start = time.Now()
			res, err := create.Create(context.Background(), create.Options{
				Kernel: k, Patch: p, PatchName: patch + ".diff",
				Output: out, KmodSrc: kmodSrc, Tool: "ksplice test",
			})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			t.Logf("create: %v", time.Since(start).Round(time.Second))
			run := labtest.Run(t, lab.RunOptions{
				Kernel: k,
				Files:  []lab.File{{Host: out, Guest: "/root/u.tar"}},
				Command: []string{"sh", "-c", tracedScript, "traced",
					res.ID, "cat /proc/cmdline", "ksplice=patched", "cmdline_proc_show"},
			})
			t.Logf("guest (boot %v, total %v):\n%s", run.Result.Boot.Round(time.Millisecond),
				run.Result.Total.Round(time.Millisecond), run.Stdout)
			if run.Result.ExitCode != 0 || !strings.Contains(run.Stdout, "\nPASS\n") {
				t.Fatalf("guest script failed (exit %d):\n%s\n%s", run.Result.ExitCode, run.Stdout, run.Stderr)
			}
			if want := fmt.Sprintf("%s: applied: ", res.ID); !strings.Contains(run.Console, want) {
				t.Errorf("console lacks the engine's apply line %q:\n%s", want, run.Console)
			}
		})
	}
}
