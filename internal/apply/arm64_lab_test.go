package apply_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/kbuild"
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

// arm64CyclesScript reverses and re-applies the cmdline update (id %[1]s)
// CYCLES times through the engine's stage file while a reader of
// /proc/cmdline spins on every CPU: each round, ftrace registers and
// releases the ftrace_ops (arm64 rewrites the call site with every CPU in
// its stop_machine) and the engine's stop_machine flips the switch, while
// the readers call the function (issue 9, point 3, on arm64).
const arm64CyclesScript = `set -e
S=/sys/kernel/ksplice/%[1]s/stage
T=/sys/kernel/tracing
[ -e $T/trace ] || mount -t tracefs nodev $T
# stale tells what the CPUs execute from what memory holds when a round
# fails: the ftrace site and ftrace_caller's call as /proc/kcore reads them,
# then the output again after a kprobe wrote (and restored) an instruction
# of the same page, which makes the emulator drop its translations of it.
stale() (
	set +e
	kill $load
	sleep 1
	echo "DIAG readers stopped: patched $(grep -c ksplice=patched /proc/cmdline)"
	/root/kpeek cmdline_proc_show 16 || true
	/root/kpeek ftrace_call 4 || true
	echo 'p:kstale cmdline_proc_show+0x14' > $T/kprobe_events
	echo 1 > $T/events/kprobes/kstale/enable
	echo 0 > $T/events/kprobes/kstale/enable
	echo '-:kstale' >> $T/kprobe_events
	echo "DIAG after a kprobe rewrote the page: patched $(grep -c ksplice=patched /proc/cmdline) $(grep -c ksplice=patched /proc/cmdline)"
)
ksplice apply --allow-unsigned /root/u.tar
load=
for c in $(seq $(nproc)); do
	(while :; do cat /proc/cmdline >/dev/null; done) &
	load="$load $!"
done
n=0
while [ $n -lt CYCLES ]; do
	echo reverse > $S || { echo "FAIL: reverse $n: $(cat /sys/kernel/ksplice/%[1]s/abort_message)"; exit 1; }
	if grep -q 'ksplice=patched' /proc/cmdline; then echo "FAIL: reverse $n: still patched"; exit 1; fi
	echo apply > $S || { echo "FAIL: apply $n: $(cat /sys/kernel/ksplice/%[1]s/abort_message)"; exit 1; }
	grep -q 'ksplice=patched' /proc/cmdline || { stale; echo "FAIL: apply $n: not patched (stage $(cat $S); read again per CPU: $(for i in 1 2 3; do for c in 1 2; do taskset $c grep -c ksplice=patched /proc/cmdline; done; sleep 1; done | tr '\n' ' ')); ftrace: $(grep cmdline_proc_show /sys/kernel/tracing/enabled_functions); engine: $(cat /sys/kernel/ksplice/%[1]s/functions)"; exit 1; }
	n=$((n+1))
done
kill $load
echo "ok: cycles $n"
ksplice undo %[1]s
if grep -q 'ksplice=patched' /proc/cmdline; then echo "FAIL: undo: still patched"; exit 1; fi
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
	kpeek := buildKpeek(t, "arm64")
	// Each patch is created once (arm64 objects are slow to build here).
	made := map[string]arm64Update{}
	dir := t.TempDir()
	for _, tc := range []struct{ name, patch, script, consoleWant string }{
		{"cmdline", "proc-cmdline-string.diff", arm64Script, "applied: 1 functions"},
		{"loadavg", "proc-loadavg-new-helper.diff", arm64LoadavgScript, ": applied: "},
		{"cycles", "proc-cmdline-string.diff", strings.Replace(arm64CyclesScript, "CYCLES", strconv.Itoa(soakCycles(t, 50)), 1), ": applied: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, ok := made[tc.patch]
			if !ok {
				u = createARM64(t, k, tc.patch, dir)
				made[tc.patch] = u
			}
			out, res := u.path, u.res
			run := labtest.Run(t, lab.RunOptions{
				Kernel: k,
				// The cycles rewrite the ftrace site that the readers
				// execute: KSPLICE_LAB_MTTCG=1 runs them with a host
				// thread per vCPU, to reproduce the failure
				// (lab.RunOptions.MultiThreadTCG).
				Files:   []lab.File{{Host: out, Guest: "/root/u.tar"}, {Host: kpeek, Guest: "/root/kpeek"}},
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

type arm64Update struct {
	path string
	res  *create.Result
}

// createARM64 creates the update of testdata/patches/PATCH for k into dir.
func createARM64(t *testing.T, k *kbuild.Kernel, patch, dir string) arm64Update {
	t.Helper()
	p, err := srcpatch.ParseFile("../../testdata/patches/" + patch)
	if err != nil {
		t.Fatal(err)
	}
	kmodSrc, _ := filepath.Abs("../../kmod-src")
	out := filepath.Join(dir, strings.TrimSuffix(patch, ".diff")+".tar")
	start := time.Now()
	res, err := create.Create(context.Background(), create.Options{
		Kernel: k, Patch: p, PatchName: patch,
		Output: out, KmodSrc: kmodSrc, Tool: "ksplice test",
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Logf("create %s: %v", patch, time.Since(start).Round(time.Millisecond))
	return arm64Update{out, res}
}

// buildKpeek builds testdata/kpeek, the guest's reader of kernel memory,
// for goarch.
func buildKpeek(t *testing.T, goarch string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "kpeek")
	cmd := exec.Command("go", "build", "-o", out, "../../testdata/kpeek")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build kpeek for %s: %v\n%s", goarch, err, b)
	}
	return out
}
