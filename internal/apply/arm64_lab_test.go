package apply_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// arm64Kernel is the AArch64 kernel of TestApplyARM64.
const arm64Kernel = "debian:6.1.0-55-arm64"

// arm64Script applies the update, checks /proc/cmdline, traces the replaced
// function with the function tracer (ftrace's pair at +0/+4 must keep
// working with the trampoline at +8: the traced call continues into the
// replacement), undoes and re-applies while it is traced, and undoes.
const arm64Script = `set -e
T=/sys/kernel/tracing
[ -e $T/trace ] || mount -t tracefs nodev $T
check() { if cat /proc/cmdline | grep -q 'ksplice=patched'; then s=patched; else s=original; fi
	[ "$s" = "$1" ] || { echo "FAIL: $2: /proc/cmdline is $s"; exit 1; }; echo "ok: $2"; }
check original before
ksplice apply --allow-unsigned /root/u.tar
check patched applied
echo cmdline_proc_show > $T/set_ftrace_filter
echo function > $T/current_tracer
check patched traced
n=$(grep -c 'cmdline_proc_show <-' $T/trace || true)
[ "$n" -ge 1 ] || { echo "FAIL: the tracer saw no call"; exit 1; }
echo "ok: traced $n"
ksplice undo %[1]s
check original "undone while traced"
ksplice apply --allow-unsigned /root/u.tar
check patched "applied while traced"
echo nop > $T/current_tracer
ksplice undo %[1]s
check original undone
if dmesg | grep -iE 'ftrace (bug|failed)'; then echo "FAIL: ftrace complained"; exit 1; fi
echo PASS
`

// arm64LoadavgScript applies the proc-loadavg-new-helper update, whose
// loadavg_proc_show Debian's cross compiler (12.2.0-14) lays out
// differently from the kernel's (a run-pre mismatch at +0x1e): it applies
// only when built with the kernel's own compiler, the native toolchain the
// lab runs under qemu-user.
const arm64LoadavgScript = `set -e
tagged() { case "$(cat /proc/loadavg)" in *" ksplice") echo yes;; *) echo no;; esac; }
[ "$(tagged)" = no ] || { echo "FAIL: tagged before"; exit 1; }
ksplice apply --allow-unsigned /root/u.tar
[ "$(tagged)" = yes ] || { echo "FAIL: not tagged while applied: $(cat /proc/loadavg)"; exit 1; }
echo "ok: $(cat /proc/loadavg)"
ksplice undo %[1]s
[ "$(tagged)" = no ] || { echo "FAIL: tagged after undo"; exit 1; }
echo PASS
`

// TestApplyARM64 creates updates for the arm64 lab kernel and applies and
// undoes them in a guest: proc-cmdline-string with the function tracer on
// the replaced function, and proc-loadavg-new-helper. Both are built with
// the kernel's exact compiler (no ForceCompiler): lab.Fetch runs Debian's
// native arm64 gcc under qemu-user when the host's cross compiler is
// another build. It runs when the arm64 kernel is one of the lab's
// (labtest.Kernels: make test lists it; or KSPLICE_LAB_ARM64=1).
func TestApplyARM64(t *testing.T) {
	if labtest.Enabled() && !slices.Contains(labtest.Kernels(), arm64Kernel) {
		t.Skip("arm64 lab test: list " + arm64Kernel + " in KSPLICE_LAB_KERNELS, or set KSPLICE_LAB_ARM64=1")
	}
	k := labtest.KernelFor(t, arm64Kernel)
	if k.Toolchain == "" {
		t.Logf("%s is built with %s, not the kernel's %s", arm64Kernel, k.HostCompiler, k.Compiler)
	}
	for _, tc := range []struct{ name, patch, script, consoleWant string }{
		{"cmdline", "proc-cmdline-string.diff", arm64Script, "applied: 1 functions"},
		{"loadavg", "proc-loadavg-new-helper.diff", arm64LoadavgScript, ": applied: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := srcpatch.ParseFile("../../testdata/patches/" + tc.patch)
			if err != nil {
				t.Fatal(err)
			}
			kmodSrc, _ := filepath.Abs("../../kmod-src")
			out := filepath.Join(t.TempDir(), "u.tar")
			start := time.Now()
			res, err := create.Create(context.Background(), create.Options{
				Kernel: k, Patch: p, PatchName: tc.patch,
				Output: out, KmodSrc: kmodSrc, Tool: "ksplice test",
			})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			t.Logf("create: %v", time.Since(start).Round(time.Millisecond))
			run := labtest.Run(t, lab.RunOptions{
				Kernel:  k,
				Files:   []lab.File{{Host: out, Guest: "/root/u.tar"}},
				Command: []string{"sh", "-c", fmt.Sprintf(tc.script, res.ID)},
			})
			t.Logf("guest (boot %v, total %v):\n%s", run.Result.Boot.Round(time.Millisecond), run.Result.Total.Round(time.Millisecond), run.Stdout)
			if run.Result.ExitCode != 0 || !strings.Contains(run.Stdout, "\nPASS\n") {
				t.Fatalf("guest script failed (exit %d):\n%s\n%s", run.Result.ExitCode, run.Stdout, run.Stderr)
			}
			if !strings.Contains(run.Console, tc.consoleWant) {
				t.Errorf("console lacks the engine's apply line %q:\n%s", tc.consoleWant, run.Console)
			}
		})
	}
}
