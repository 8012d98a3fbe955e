package apply_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/elfdiff"
	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// The engine owns each replaced function with an IPMODIFY ftrace_ops
// (kmod-src/ksplice_ftrace.c, issue 9 points 3 and 7). These tests show
// that ownership against the kernel's own livepatch, and the switch under
// NMIs that run the replaced function.

// sampleUpdate creates the update of testdata/patches/PATCH.diff with id
// into dir/ID.tar and returns its path.
func sampleUpdate(t *testing.T, k *kbuild.Kernel, dir, patch, id string) string {
	t.Helper()
	kmodSrc, _ := filepath.Abs("../../kmod-src")
	p, err := srcpatch.ParseFile(filepath.Join("../../testdata/patches", patch+".diff"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, id+".tar")
	if _, err := create.Create(context.Background(), create.Options{Kernel: k, Patch: p,
		PatchName: patch + ".diff", ID: id, Output: out, KmodSrc: kmodSrc}); err != nil {
		t.Fatalf("create %s: %v", patch, err)
	}
	return out
}

// cmdlineUpdate creates the proc-cmdline-string update (id "cmdline") into
// dir and returns its path.
func cmdlineUpdate(t *testing.T, k *kbuild.Kernel, dir string) string {
	t.Helper()
	return sampleUpdate(t, k, dir, "proc-cmdline-string", "cmdline")
}

// buildTestdataModule builds the module of testdata/SUB (its Kbuild and
// source) for k in dir, with buildModule.
func buildTestdataModule(t *testing.T, k *kbuild.Kernel, dir, sub, source string) string {
	t.Helper()
	files := map[string][]byte{}
	for _, f := range []string{"Kbuild", source} {
		b, err := os.ReadFile(filepath.Join("../../testdata", sub, f))
		if err != nil {
			t.Fatal(err)
		}
		files[f] = b
	}
	return buildModule(t, k, dir, filepath.Base(sub), files)
}

// buildModule builds the module whose sources are files (name -> content)
// against k's headers in a directory of its own under dir, and returns the
// path of the .ko.
func buildModule(t *testing.T, k *kbuild.Kernel, dir, name string, files map[string][]byte) string {
	t.Helper()
	mdir := filepath.Join(dir, name)
	if err := os.MkdirAll(mdir, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, b := range files {
		if err := os.WriteFile(filepath.Join(mdir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var log bytes.Buffer
	kos, err := kbuild.BuildModule(context.Background(), k, mdir, &log, k.MakeVars...)
	if err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, log.String())
	}
	return kos[0]
}

// soakCycles is how many reverse/apply rounds a cycling test runs: def, or
// $KSPLICE_SOAK_CYCLES (make soak).
func soakCycles(t *testing.T, def int) int {
	t.Helper()
	v := os.Getenv("KSPLICE_SOAK_CYCLES")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("KSPLICE_SOAK_CYCLES=%q: want a positive number", v)
	}
	return n
}

// amd64Only skips on other architectures, saying why.
func amd64Only(t *testing.T, k *kbuild.Kernel, why string) {
	t.Helper()
	if k.Arch != "amd64" {
		t.Skipf("%s: amd64 only (%s is %s)", why, k.Spec, k.Arch)
	}
}

// livepatchScript: livepatch first, then ksplice is refused naming the
// owner; livepatch removed, ksplice applies; then livepatch is refused by
// ftrace and ksplice's update keeps working, and turning ftrace off
// (kernel.ftrace_enabled=0) is refused while ksplice owns a function.
const livepatchScript = `. ./lib.sh
LP=/sys/kernel/livepatch/livepatch_sample
insmod livepatch-sample.ko || fail "insmod livepatch-sample.ko"
grep -q 'this has been live patched' /proc/cmdline || fail "livepatch not active: $(cat /proc/cmdline)"
ok "livepatch applied"
run 3 ksplice apply --allow-unsigned cmdline.tar
case "$out" in *ftrace_owned*"cmdline_proc_show is already modified through ftrace by another live patch or a BPF trampoline"*) ok "ksplice refused: owned" ;;
*) fail "ksplice apply: want ftrace_owned naming cmdline_proc_show" ;; esac
grep -q 'this has been live patched' /proc/cmdline || fail "livepatch lost: $(cat /proc/cmdline)"
untouched
echo 0 > $LP/enabled || fail "disable livepatch"
i=0
while [ -e $LP ] && [ "$(cat $LP/transition 2>/dev/null)" = 1 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
i=0
until rmmod livepatch_sample 2>/dev/null; do i=$((i+1)); [ $i -lt 100 ] || fail "rmmod livepatch_sample"; sleep 0.1; done
grep -q 'live patched' /proc/cmdline && fail "livepatch still active"
ok "livepatch removed"
run 0 ksplice apply --allow-unsigned cmdline.tar
grep -q 'ksplice=patched' /proc/cmdline || fail "ksplice not active: $(cat /proc/cmdline)"
ok "ksplice applied"
if insmod livepatch-sample.ko 2>/tmp/err; then fail "insmod livepatch-sample.ko succeeded over ksplice"; fi
ok "livepatch refused: $(cat /tmp/err)"
dmesg | grep -E 'livepatch.*(failed|-16)' | sed 's/^/dmesg: /'
grep -q 'ksplice=patched' /proc/cmdline || fail "ksplice lost: $(cat /proc/cmdline)"
grep -q 'live patched' /proc/cmdline && fail "livepatch active over ksplice"
ok "ksplice still applied: $(cat /proc/cmdline)"
if echo 0 > /proc/sys/kernel/ftrace_enabled; then fail "ftrace_enabled=0 accepted while ksplice owns a function"; fi
[ "$(cat /proc/sys/kernel/ftrace_enabled)" = 1 ] || fail "ftrace_enabled is $(cat /proc/sys/kernel/ftrace_enabled)"
grep -q 'ksplice=patched' /proc/cmdline || fail "ksplice lost after ftrace_enabled=0: $(cat /proc/cmdline)"
ok "ftrace_enabled=0 refused (FTRACE_OPS_FL_PERMANENT)"
run 0 ksplice undo cmdline
grep -q 'ksplice=patched' /proc/cmdline && fail "undo: still patched"
untouched
echo PASS
`

// TestFtraceLivepatch: the kernel's own livepatch sample
// (samples/livepatch/livepatch-sample.c, which replaces cmdline_proc_show)
// and ksplice's proc-cmdline-string update, in both orders, in one boot:
// whichever comes second is refused, and the first keeps working.
func TestFtraceLivepatch(t *testing.T) {
	k := labtest.Kernel(t)
	amd64Only(t, k, "Debian's arm64 6.1 has no CONFIG_LIVEPATCH")
	dir := t.TempDir()
	sample, err := os.ReadFile(filepath.Join(k.Source, "samples/livepatch/livepatch-sample.c"))
	if err != nil {
		t.Fatal(err)
	}
	lp := buildModule(t, k, dir, "livepatch", map[string][]byte{
		"Kbuild":             []byte("obj-m := livepatch-sample.o\n"),
		"livepatch-sample.c": sample,
	})
	tar := cmdlineUpdate(t, k, dir)
	lib, _ := filepath.Abs("../../testdata/lab-scripts/lib.sh")
	start := time.Now()
	out := labtest.Run(t, lab.RunOptions{Kernel: k, Files: []lab.File{
		{Host: lib, Guest: "/root/lib.sh"},
		{Host: lp, Guest: "/root/livepatch-sample.ko"},
		{Host: tar, Guest: "/root/cmdline.tar"},
	}, Command: []string{"sh", "-c", livepatchScript}})
	t.Logf("guest (%v):\n%s", time.Since(start).Round(time.Millisecond), out.Stdout)
	if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
		t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
	}
}

// nmiScript applies the cmdline update while a test module calls
// cmdline_proc_show from NMIs on the other CPU about every millisecond,
// reverses and re-applies it CYCLES times through the engine's stage file
// while a reader of /proc/cmdline spins on every CPU
// (each round: ftrace registers and unregisters the ftrace_ops, patching
// the call site under NMIs, and stop_machine flips the switch), then
// checks the function tracer on the replaced function, and reports the
// NMI calls and how many of them ran the replacement.
const nmiScript = `. ./lib.sh
T=/sys/kernel/tracing
[ -e $T/trace ] || mount -t tracefs nodev $T
S=/sys/kernel/ksplice/cmdline/stage
fn=$(grep ' cmdline_proc_show$' /proc/kallsyms | cut -d' ' -f1)
[ -n "$fn" ] || fail "cmdline_proc_show not in kallsyms"
insmod ksplice_test_nmi.ko fn=0x$fn || fail "insmod ksplice_test_nmi.ko"
run 0 ksplice apply --allow-unsigned cmdline.tar
load=
for c in $(seq LOADERS); do
	(while :; do cat /proc/cmdline >/dev/null; done) &
	load="$load $!"
done
n=0
while [ $n -lt CYCLES ]; do
	echo reverse > $S || fail "reverse $n: $(cat /sys/kernel/ksplice/cmdline/abort_message)"
	grep -q 'ksplice=patched' /proc/cmdline && fail "reverse $n: still patched"
	echo apply > $S || fail "apply $n: $(cat /sys/kernel/ksplice/cmdline/abort_message)"
	grep -q 'ksplice=patched' /proc/cmdline || fail "apply $n: not patched"
	n=$((n+1))
done
ok "cycles $n"
[ -z "$load" ] || kill $load
echo cmdline_proc_show > $T/set_ftrace_filter || fail "set_ftrace_filter"
echo function > $T/current_tracer || fail "current_tracer"
echo > $T/trace
grep -q 'ksplice=patched' /proc/cmdline || fail "traced: not patched"
c=$(grep -c 'cmdline_proc_show <-' $T/trace)
[ "$c" -ge 1 ] || fail "the function tracer saw no call of cmdline_proc_show"
ok "traced calls $c"
echo reverse > $S || fail "reverse while traced"
grep -q 'ksplice=patched' /proc/cmdline && fail "reversed while traced: still patched"
echo apply > $S || fail "apply while traced"
grep -q 'ksplice=patched' /proc/cmdline || fail "applied while traced: not patched"
echo nop > $T/current_tracer
echo > $T/set_ftrace_filter
ok "reverse and apply while traced"
rmmod ksplice_test_nmi || fail "rmmod ksplice_test_nmi"
dmesg | grep 'ksplice_test_nmi: nmi calls' | tail -1
run 0 ksplice undo cmdline
untouched
echo PASS
`

// TestFtraceNMI: reverse/apply rounds of the cmdline update (200, or
// $KSPLICE_SOAK_CYCLES: make soak runs 1000) under load on every CPU, while the
// replaced function runs in NMI context on the other CPU, then the
// function tracer on it while applied. The console must stay clean (no
// oops, no WARN: labtest.Run), and the NMIs must have run both the old
// function and the replacement.
func TestFtraceNMI(t *testing.T) {
	k := labtest.Kernel(t)
	amd64Only(t, k, "the test module sends NMIs with the x86 local APIC")
	dir := t.TempDir()
	nmi := buildTestdataModule(t, k, dir, "ftrace/nmi", "ksplice_test_nmi.c")
	// make test: 200 cycles. make soak: more, with a reader of the
	// replaced function spinning on every CPU.
	cycles, loaders := soakCycles(t, 200), "0"
	if os.Getenv("KSPLICE_SOAK_CYCLES") != "" {
		loaders = "$(nproc)"
	}
	tar := cmdlineUpdate(t, k, dir)
	lib, _ := filepath.Abs("../../testdata/lab-scripts/lib.sh")
	start := time.Now()
	// The lab's one-thread TCG matters most here: QEMU's multi-threaded
	// TCG can run a stale translation of an ftrace site that another vCPU
	// rewrote (lab.RunOptions.MultiThreadTCG), which no real CPU does.
	out := labtest.Run(t, lab.RunOptions{Kernel: k, Timeout: 20 * time.Minute, Files: []lab.File{
		{Host: lib, Guest: "/root/lib.sh"},
		{Host: nmi, Guest: "/root/ksplice_test_nmi.ko"},
		{Host: tar, Guest: "/root/cmdline.tar"},
	}, Command: []string{"sh", "-c", strings.NewReplacer("CYCLES", strconv.Itoa(cycles), "LOADERS", loaders).Replace(nmiScript)}})
	t.Logf("guest (%v):\n%s", time.Since(start).Round(time.Millisecond), out.Stdout)
	if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
		t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
	}
	m := regexp.MustCompile(`nmi calls (\d+) patched (\d+)`).FindStringSubmatch(out.Stdout)
	if m == nil {
		t.Fatal("the NMI module reported no counts")
	}
	calls, _ := strconv.Atoi(m[1])
	patched, _ := strconv.Atoi(m[2])
	if calls == 0 || patched == 0 || patched == calls {
		t.Errorf("NMI calls %d, of which ran the replacement %d: want both the old function and the replacement to have run in NMIs", calls, patched)
	}
}

// TestFtraceNoSite: trace_clock_local() is notrace (kernel/trace/ is built
// without -pg): the engine has no ftrace site to redirect and refuses it,
// naming the function, and nothing is left loaded.
func TestFtraceNoSite(t *testing.T) {
	k := labtest.Kernel(t)
	amd64Only(t, k, "the sample patch is checked against the amd64 tree only")
	// create refuses it before anything reaches a kernel: the engine,
	// which checks the same (no_ftrace_site) for updates made otherwise,
	// never sees it.
	kmodSrc, _ := filepath.Abs("../../kmod-src")
	p, err := srcpatch.ParseFile(filepath.Join("../../testdata/patches", "trace-clock-notrace.diff"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = create.Create(context.Background(), create.Options{Kernel: k, Patch: p,
		PatchName: "trace-clock-notrace.diff", ID: "notrace", Output: filepath.Join(t.TempDir(), "notrace.tar"), KmodSrc: kmodSrc})
	if !errors.Is(err, elfdiff.ErrNoFtraceSite) || !strings.Contains(err.Error(), "trace_clock_local") {
		t.Fatalf("create of a notrace function: %v, want a no-ftrace-site refusal naming trace_clock_local", err)
	}
}
