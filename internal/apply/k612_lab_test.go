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

// tracedScript applies the update, checks what READ shows, traces the
// replaced function FUNC with the function tracer while applied (the
// tracer and the engine's IPMODIFY ftrace_ops share its ftrace site: the
// traced call still runs the new code), undoes and re-applies while it is
// traced, and undoes. Arguments: the update's id, READ, WANT, FUNC.
const tracedScript = `set -e
id=$1 read=$2 want=$3 func=$4
T=/sys/kernel/tracing
[ -e $T/trace ] || mount -t tracefs nodev $T
check() { if eval "$read" | grep -q -- "$want"; then s=patched; else s=original; fi
	[ "$s" = "$1" ] || { echo "FAIL: $2: '$read' shows the $s code: $(eval "$read")"; exit 1; }; echo "ok: $2"; }
check original before
ksplice apply --allow-unsigned /root/u.tar
check patched applied
echo "$func" > $T/set_ftrace_filter
echo function > $T/current_tracer
check patched traced
n=$(grep -c " $func <-" $T/trace || true)
[ "$n" -ge 1 ] || { echo "FAIL: the tracer saw no call of $func"; cat $T/trace | tail; exit 1; }
echo "ok: traced $n"
ksplice undo $id
check original "undone while traced"
ksplice apply --allow-unsigned /root/u.tar
check patched "applied while traced"
echo nop > $T/current_tracer
ksplice undo $id
check original undone
if dmesg | grep -iE 'ftrace (bug|failed)|Misaligned patch-site'; then echo "FAIL: ftrace complained"; exit 1; fi
echo PASS
`

// TestApply612 creates one sample update per architecture for Debian's
// 6.12 kernels and applies, observes, traces and undoes it in a guest
// (when the kernel is one of the lab's: make test lists both):
//
//   - amd64 (IBT, CALL_PADDING, call thunks): syscall-newuname-plain,
//     whose __ia32_sys_newuname has its ENDBR sealed at boot (no indirect
//     reference: 6.12 dispatches system calls with a switch), which
//     run-pre must take for the object's endbr64; the function tracer on
//     __x64_sys_newuname.
//   - arm64 (CALL_OPS, PAC): proc-cmdline-string, the function tracer on
//     cmdline_proc_show, whose ops slot and entry NOPs stay ftrace's.
func TestApply612(t *testing.T) {
	for _, tc := range []struct {
		kernel, patch, read, want, traced string
	}{
		{"debian:6.12.117+deb12-amd64", "syscall-newuname-plain", "uname -v", "ksplice-plain-syscall", "__x64_sys_newuname"},
		{"debian:6.12.117+deb12-arm64", "proc-cmdline-string", "cat /proc/cmdline", "ksplice=patched", "cmdline_proc_show"},
	} {
		t.Run(strings.TrimPrefix(tc.kernel, "debian:"), func(t *testing.T) {
			if labtest.Enabled() && !slices.Contains(labtest.Kernels(), tc.kernel) {
				t.Skip("list " + tc.kernel + " in KSPLICE_LAB_KERNELS")
			}
			k := labtest.KernelFor(t, tc.kernel)
			p, err := srcpatch.ParseFile("../../testdata/patches/" + tc.patch + ".diff")
			if err != nil {
				t.Fatal(err)
			}
			kmodSrc, _ := filepath.Abs("../../kmod-src")
			out := filepath.Join(t.TempDir(), "u.tar")
			start := time.Now()
			res, err := create.Create(context.Background(), create.Options{
				Kernel: k, Patch: p, PatchName: tc.patch + ".diff",
				Output: out, KmodSrc: kmodSrc, Tool: "ksplice test",
			})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			t.Logf("create: %v", time.Since(start).Round(time.Millisecond))
			run := labtest.Run(t, lab.RunOptions{
				Kernel: k,
				Files:  []lab.File{{Host: out, Guest: "/root/u.tar"}},
				Command: []string{"sh", "-c", tracedScript, "traced",
					res.ID, tc.read, tc.want, tc.traced},
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
