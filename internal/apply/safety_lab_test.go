package apply_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
)

// The engine's safety rules (issue 9), each shown in a lab guest with
// hand-built modules: the engine, update modules whose tables were
// generated from objects (testdata/kmod-update-cmdline/gen.go), and small
// target modules of their own (testdata/safety/).

// safetyModules are built in this order, each against the engine's
// symbols: directory (from the repository root) and module name.
var safetyModules = []struct{ dir, module string }{
	{"kmod-src", "ksplice"},
	{"testdata/kmod-update-cmdline/v1", "ksplice_cmdline_v1_vmlinux"},
	{"testdata/kmod-update-cmdline/v2", "ksplice_cmdline_v2_vmlinux"},
	{"testdata/kmod-tests/busy", "ksplice_test_busy"},
	{"testdata/kmod-tests/busy-update", "ksplice_busy_v2_ksplice_test_busy"},
	{"testdata/safety/target", "ksplice_test_safety"},
	{"testdata/safety/jl-update", "ksplice_safety_jl_ksplice_test_safety"},
	{"testdata/safety/cold-update", "ksplice_safety_cold_ksplice_test_safety"},
	{"testdata/safety/sc-update", "ksplice_safety_sc_ksplice_test_safety"},
	{"testdata/safety/fp-update", "ksplice_safety_fp_ksplice_test_safety"},
	{"testdata/safety/wq-update", "ksplice_safety_wq_ksplice_test_safety"},
}

// buildSafetyModules copies the module sources into dir (the repository
// stays clean) and builds them against k's headers, two at a time: the
// engine first, then the modules that need only its symbols, then the
// safety updates, which need the target's too. It returns module -> .ko
// path.
func buildSafetyModules(t *testing.T, k *kbuild.Kernel, dir string) map[string]string {
	t.Helper()
	root, _ := filepath.Abs("../..")
	kos := map[string]string{}
	symvers := filepath.Join(dir, "kmod-src", "Module.symvers")
	build := func(m struct{ dir, module string }) error {
		dst := filepath.Join(dir, m.dir)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if out, err := exec.Command("cp", "-a", filepath.Join(root, m.dir), dst).CombinedOutput(); err != nil {
			return fmt.Errorf("copy %s: %v\n%s", m.dir, err, out)
		}
		if m.dir != "kmod-src" && !strings.HasSuffix(m.dir, "target") && !strings.HasSuffix(m.dir, "busy") {
			// Update modules include the engine's ksplice.h from
			// include/, as create lays them out.
			h, err := os.ReadFile(filepath.Join(root, "kmod-src", "ksplice.h"))
			if err == nil {
				err = os.MkdirAll(filepath.Join(dst, "include"), 0o755)
			}
			if err == nil {
				err = os.WriteFile(filepath.Join(dst, "include", "ksplice.h"), h, 0o644)
			}
			if err != nil {
				return err
			}
		}
		args := []string{"-s", "-C", k.Headers, "M=" + dst}
		if m.dir != "kmod-src" {
			extra := symvers
			if safetyUpdate(m.dir) {
				// Their new code uses the target module's exports.
				extra += " " + filepath.Join(dir, "testdata/safety/target/Module.symvers")
			}
			args = append(args, "KBUILD_EXTRA_SYMBOLS="+extra)
		}
		cmd := exec.Command("make", append(args, "modules")...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", m.dir, err, out.String())
		}
		return nil
	}
	var levels [3][]struct{ dir, module string }
	for _, m := range safetyModules {
		switch {
		case m.dir == "kmod-src":
			levels[0] = append(levels[0], m)
		case safetyUpdate(m.dir):
			levels[2] = append(levels[2], m)
		default:
			levels[1] = append(levels[1], m)
		}
	}
	for _, level := range levels {
		errs := make([]error, len(level))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 2)
		for i, m := range level {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				errs[i] = build(m)
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range safetyModules {
		kos[m.module] = filepath.Join(dir, m.dir, m.module+".ko")
	}
	return kos
}

// safetyUpdate tells whether the module in dir is an update of the safety
// target, built against its symbols.
func safetyUpdate(dir string) bool {
	return strings.HasSuffix(dir, "-update") && strings.HasPrefix(dir, "testdata/safety/")
}

// runSafety boots the lab kernel with lib.sh of the engine's tests, the
// named modules and script, and fails t unless the script prints PASS and
// every line of want, in order.
func runSafety(t *testing.T, k *kbuild.Kernel, kos map[string]string, modules []string, script string, want []string) string {
	t.Helper()
	lib, _ := filepath.Abs("../../testdata/kmod-tests/lib.sh")
	files := []lab.File{{Host: lib, Guest: "/root/lib.sh"}}
	for _, m := range modules {
		files = append(files, lab.File{Host: kos[m], Guest: "/root/" + m + ".ko"})
	}
	start := time.Now()
	out := labtest.Run(t, lab.RunOptions{Kernel: k, Files: files, Command: []string{"sh", "-c", ". ./lib.sh\n" + script}})
	t.Logf("guest (%v):\n%s", time.Since(start).Round(time.Millisecond), out.Stdout)
	if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
		t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
	}
	inOrder(t, out.Stdout, want)
	return out.Stdout
}

// inOrder fails t unless out has every line of want, in order.
func inOrder(t *testing.T, out string, want []string) {
	t.Helper()
	rest := out
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("guest output lacks %q (in order)", w)
			break
		}
		rest = rest[i+len(w):]
	}
}

// runSafetyScript is runSafety with want taken from the script itself
// (okLines): every check it makes must print its "ok: " line, in order.
func runSafetyScript(t *testing.T, k *kbuild.Kernel, kos map[string]string, modules []string, script string) string {
	t.Helper()
	want := okLines(script)
	if len(want) == 0 {
		t.Fatal("the script makes no check")
	}
	return runSafety(t, k, kos, modules, script, want)
}

// okCheck matches a line of a lab script (lib.sh) that prints an "ok: "
// line when it passes: expect DESC, stage ID OP, refused ID OP CAUSE, or
// echo "ok: ...".
var okCheck = regexp.MustCompile(`^\s*(?:expect "([^"]*)"|stage (\S+) (\S+)|refused (\S+) (\S+) |echo "ok: ([^"]*)")`)

// okLines returns what the "ok: " lines of script's checks start with, in
// order: each up to its first shell expansion, which only the guest knows.
func okLines(script string) []string {
	var want []string
	for _, l := range strings.Split(script, "\n") {
		m := okCheck.FindStringSubmatch(l)
		var s string
		switch {
		case m == nil:
			continue
		case m[1] != "":
			s = m[1]
		case m[2] != "":
			s = m[3] + " " + m[2]
		case m[4] != "":
			s = m[5] + " " + m[4] + " refused"
		default:
			s = m[6]
		}
		s, _, _ = strings.Cut(s, "$")
		want = append(want, "ok: "+s)
	}
	return want
}

// safetyPrivilege: the empty stop_machine round exists only with
// bench=1, and root without CAP_SYS_MODULE in the initial namespace (root
// of a user namespace, who owns the files) can neither apply nor reverse.
func safetyPrivilege(t *testing.T, k *kbuild.Kernel, kos map[string]string) {
	runSafetyScript(t, k, kos, []string{"ksplice", "ksplice_cmdline_v1_vmlinux"}, `
load ksplice.ko
load ksplice_cmdline_v1_vmlinux.ko
before=$(cat /proc/cmdline)
unshare -U -r sh -c "echo apply > $K/cmdline-v1/stage" 2>/dev/null && fail "apply without CAP_SYS_MODULE succeeded"
expect "apply without CAP_SYS_MODULE refused" "$(cat $K/cmdline-v1/stage)" loaded
[ "$(cat /proc/cmdline)" = "$before" ] || fail "/proc/cmdline changed"
stage cmdline-v1 apply
unshare -U -r sh -c "echo reverse > $K/cmdline-v1/stage" 2>/dev/null && fail "reverse without CAP_SYS_MODULE succeeded"
expect "reverse without CAP_SYS_MODULE refused" "$(cat $K/cmdline-v1/stage)" applied
stage cmdline-v1 reverse
[ -e $K/stop_machine_empty_ns ] && fail "stop_machine_empty_ns exists without bench=1"
echo "ok: no stop_machine_empty_ns without bench=1"
rmmod ksplice_cmdline_v1_vmlinux || fail "rmmod update"
rmmod ksplice || fail "rmmod ksplice"
insmod ksplice.ko bench=1 || fail "insmod ksplice.ko bench=1"
unshare -U -r sh -c "echo 1 > $K/stop_machine_empty_ns" 2>/dev/null && fail "empty round without CAP_SYS_MODULE"
echo 1 > $K/stop_machine_empty_ns || fail "empty round with bench=1"
echo "ok: bench=1: empty round $(cat $K/stop_machine_empty_ns) ns"
echo PASS
`)
}

// safetyTaint: applying taints the kernel with TAINT_LIVEPATCH
// (32768), the update module is marked as a live patch ('K' in its taint
// file), and apply and reverse are logged with the update's id.
func safetyTaint(t *testing.T, k *kbuild.Kernel, kos map[string]string) {
	runSafetyScript(t, k, kos, []string{"ksplice", "ksplice_cmdline_v1_vmlinux"}, `
load ksplice.ko
[ $(( $(cat /proc/sys/kernel/tainted) & 32768 )) -eq 0 ] || fail "tainted livepatch before any update"
echo "ok: not tainted K with the engine alone"
load ksplice_cmdline_v1_vmlinux.ko
expect "update module is a live patch" "$(cat /sys/module/ksplice_cmdline_v1_vmlinux/taint)" K
stage cmdline-v1 apply
tainted=$(cat /proc/sys/kernel/tainted)
[ $(( tainted & 32768 )) -ne 0 ] || fail "tainted is $tainted after apply"
echo "ok: tainted $tainted has 32768 after apply"
expect "apply logged" "$(dmesg | grep 'ksplice: cmdline-v1: applied')" "cmdline-v1: applied: 1 functions in vmlinux"
stage cmdline-v1 reverse
expect "reverse logged" "$(dmesg | grep 'ksplice: cmdline-v1: reversed')" "cmdline-v1: reversed: stop_machine"
rmmod ksplice_cmdline_v1_vmlinux || fail "rmmod update"
rmmod ksplice || fail "rmmod ksplice"
echo PASS
`)
}

// safetyForcedUnload: rmmod -f of an applied update (Debian kernels
// have MODULE_FORCE_UNLOAD) reverses it before its text is freed, with
// the update stacked on it; then the engine goes too, and the patched
// function runs its old code, with no oops.
func safetyForcedUnload(t *testing.T, k *kbuild.Kernel, kos map[string]string) {
	runSafetyScript(t, k, kos, []string{"ksplice", "ksplice_cmdline_v1_vmlinux", "ksplice_cmdline_v2_vmlinux"}, `
before=$(cat /proc/cmdline)
load ksplice.ko
load ksplice_cmdline_v1_vmlinux.ko
stage cmdline-v1 apply
expect "applied" "$(cat /proc/cmdline)" "ksplice-v1: "
rmmod ksplice_cmdline_v1_vmlinux 2>/dev/null && fail "rmmod of an applied update succeeded"
rmmod -f ksplice_cmdline_v1_vmlinux || fail "rmmod -f of the update"
echo "ok: rmmod -f of the applied update"
grep -q '^ksplice_cmdline_v1_vmlinux ' /proc/modules && fail "still loaded"
[ "$(cat /proc/cmdline)" = "$before" ] || fail "after rmmod -f: /proc/cmdline is '$(cat /proc/cmdline)'"
echo "ok: old behaviour back: $(cat /proc/cmdline)"
expect "logged" "$(dmesg | grep 'reversing cmdline-v1')" "cmdline-v1: reversing cmdline-v1: its module is being removed"
rmmod -f ksplice || fail "rmmod -f ksplice"
[ "$(cat /proc/cmdline)" = "$before" ] || fail "after rmmod -f ksplice: /proc/cmdline is '$(cat /proc/cmdline)'"
echo "ok: engine gone, old behaviour: $(cat /proc/cmdline)"
load ksplice.ko
load ksplice_cmdline_v1_vmlinux.ko
load ksplice_cmdline_v2_vmlinux.ko
stage cmdline-v1 apply
stage cmdline-v2 apply
expect "stacked" "$(cat /proc/cmdline)" "ksplice-v2: "
rmmod -f ksplice_cmdline_v1_vmlinux || fail "rmmod -f of the lower update"
expect "the update on top reversed first" "$(dmesg | grep 'reversing cmdline-v2')" "cmdline-v1: reversing cmdline-v2: its module is being removed"
expect "stage of the update on top" "$(cat $K/cmdline-v2/stage)" reversed
[ "$(cat /proc/cmdline)" = "$before" ] || fail "after rmmod -f of v1: /proc/cmdline is '$(cat /proc/cmdline)'"
echo "ok: both reversed: $(cat /proc/cmdline)"
rmmod ksplice_cmdline_v2_vmlinux || fail "rmmod v2"
rmmod ksplice || fail "rmmod ksplice"
echo PASS
`)
}

// safetyForcedUnloadBusy: rmmod -f of an applied update while a
// kthread sleeps inside its replacement waits, retrying the stack check,
// until the thread is out; the thread then runs the old code. Without the
// wait, the thread would wake up in freed text.
func safetyForcedUnloadBusy(t *testing.T, k *kbuild.Kernel, kos map[string]string) {
	runSafetyScript(t, k, kos, []string{"ksplice", "ksplice_test_busy", "ksplice_busy_v2_ksplice_test_busy"}, `
P=/sys/module/ksplice_test_busy/parameters
load ksplice.ko
load ksplice_busy_v2_ksplice_test_busy.ko
insmod ksplice_test_busy.ko release=1 || fail "insmod target"
stage busy-v2 apply
sleep 1
expect "result of the new code" "$(cat $P/result)" 2
echo 0 > $P/release
sleep 1
rmmod -f ksplice_busy_v2_ksplice_test_busy &
rm_pid=$!
sleep 3
grep -q '^ksplice_busy_v2_ksplice_test_busy ' /proc/modules || fail "rmmod -f did not wait for the thread"
pid=$(pidof ksplice_busy)
expect "waits for the thread" "$(dmesg | grep 'busy-v2: waiting to reverse' | tail -n 1)" "task $pid (ksplice_busy) is inside (replacement)+0x"
echo 1 > $P/release
wait $rm_pid || fail "rmmod -f failed"
echo "ok: rmmod -f done once the thread left"
sleep 1
expect "result of the old code" "$(cat $P/result)" 1
rmmod ksplice_test_busy || fail "rmmod target"
rmmod ksplice || fail "rmmod ksplice"
echo PASS
`)
}

// safetyForcedUnloadTarget: rmmod -f of a module an update is applied to
// reverses the update before the module's text is freed (the saved bytes
// go back into it while it is still there; a later reverse would write
// them into freed memory).
func safetyForcedUnloadTarget(t *testing.T, k *kbuild.Kernel, kos map[string]string) {
	runSafetyScript(t, k, kos, []string{"ksplice", "ksplice_test_busy", "ksplice_busy_v2_ksplice_test_busy"}, `
P=/sys/module/ksplice_test_busy/parameters
load ksplice.ko
load ksplice_busy_v2_ksplice_test_busy.ko
insmod ksplice_test_busy.ko release=1 || fail "insmod target"
stage busy-v2 apply
sleep 1
expect "result of the new code" "$(cat $P/result)" 2
rmmod ksplice_test_busy 2>/dev/null && fail "rmmod of the patched target succeeded"
rmmod -f ksplice_test_busy || fail "rmmod -f of the target"
echo "ok: rmmod -f of the patched target"
expect "reversed with its target" "$(cat $K/busy-v2/stage)" reversed
expect "logged" "$(dmesg | grep 'reversing busy-v2')" "busy-v2: reversing busy-v2: its target module is being removed"
rmmod ksplice_busy_v2_ksplice_test_busy || fail "rmmod update"
insmod ksplice_test_busy.ko release=1 || fail "insmod target again"
sleep 1
expect "target loaded again, old code" "$(cat $P/result)" 1
rmmod ksplice_test_busy || fail "rmmod target"
rmmod ksplice || fail "rmmod ksplice"
echo PASS
`)
}

// safetyJumpLabel: ksplice_jl_func() starts with a static branch at +5,
// where a jump written after the ftrace site used to go (a key flip would
// then BUG() on it). Calls are now redirected by an ftrace_ops and nothing
// is written into the old function: the update applies, the key flips the
// old function's site while the update is applied, and after reverse the
// old code follows the key again. (The fixture's new code carries no
// __jump_table entry for its own static branch: it returns x + 2.)
func safetyJumpLabel(t *testing.T, k *kbuild.Kernel, kos map[string]string) {
	runSafetyScript(t, k, kos, []string{"ksplice", "ksplice_test_safety", "ksplice_safety_jl_ksplice_test_safety"}, `
P=/sys/module/ksplice_test_safety/parameters
load ksplice.ko
load ksplice_test_safety.ko
load ksplice_safety_jl_ksplice_test_safety.ko
echo 5 > $P/call
expect "old code" "$(cat $P/result)" 6
stage safety-jl apply
echo 5 > $P/call
expect "new code" "$(cat $P/result)" 7
echo 1 > $P/key
echo 0 > $P/key
echo 5 > $P/call
expect "new code after the key flipped" "$(cat $P/result)" 7
stage safety-jl reverse
echo 1 > $P/key
echo 5 > $P/call
expect "key on" "$(cat $P/result)" 105
echo 0 > $P/key
echo 5 > $P/call
expect "key off" "$(cat $P/result)" 6
rmmod ksplice_safety_jl_ksplice_test_safety || fail "rmmod update"
rmmod ksplice_test_safety || fail "rmmod target"
rmmod ksplice || fail "rmmod ksplice"
echo PASS
`)
}

// safetyStaticCall: ksplice_sc_func() tail-calls a static call whose site
// is at +5, where a jump written after the ftrace site used to go (then
// static_call_update() silently replaced our jump, and reverse failed with
// code_changed). With the ftrace redirect the update applies, the static
// call is updated while the update is applied (the new code, x + 2, does
// not use it) and the old code follows it after reverse.
func safetyStaticCall(t *testing.T, k *kbuild.Kernel, kos map[string]string) {
	runSafetyScript(t, k, kos, []string{"ksplice", "ksplice_test_safety", "ksplice_safety_sc_ksplice_test_safety"}, `
P=/sys/module/ksplice_test_safety/parameters
load ksplice.ko
load ksplice_test_safety.ko
load ksplice_safety_sc_ksplice_test_safety.ko
echo 5 > $P/sc_call
expect "old code" "$(cat $P/sc_result)" 6
stage safety-sc apply
echo 5 > $P/sc_call
expect "new code" "$(cat $P/sc_result)" 7
echo 1 > $P/sc
echo 5 > $P/sc_call
expect "new code, static call updated" "$(cat $P/sc_result)" 7
stage safety-sc reverse
echo 5 > $P/sc_call
expect "old code follows the static call" "$(cat $P/sc_result)" 15
echo 0 > $P/sc
echo 5 > $P/sc_call
expect "static call back" "$(cat $P/sc_result)" 6
rmmod ksplice_safety_sc_ksplice_test_safety || fail "rmmod update"
rmmod ksplice_test_safety || fail "rmmod target"
rmmod ksplice || fail "rmmod ksplice"
echo PASS
`)
}

// safetyColdKprobe: a kprobe registered (disabled, so its int3 is not
// written yet) at +5, where the trampoline used to go, does not stop the
// update any more (nothing is written there); and a kthread sleeping in a call made from the .cold part of the
// function to replace (its stack holds no address in the function
// itself) makes apply busy, naming the .cold part; once it is out, the
// update applies and reverses.
func safetyColdKprobe(t *testing.T, k *kbuild.Kernel, kos map[string]string) {
	runSafetyScript(t, k, kos, []string{"ksplice", "ksplice_test_safety", "ksplice_safety_cold_ksplice_test_safety"}, `
P=/sys/module/ksplice_test_safety/parameters
T=/sys/kernel/tracing
load ksplice.ko
load ksplice_test_safety.ko
load ksplice_safety_cold_ksplice_test_safety.ko
[ -e $T/kprobe_events ] || mount -t tracefs nodev $T || fail "mount tracefs"
echo 'p:ksplice_probe ksplice_cold_func+5' > $T/kprobe_events || fail "kprobe event"
stage safety-cold apply
stage safety-cold reverse
echo '-:ksplice_probe' >> $T/kprobe_events || fail "remove the kprobe event"
echo 1 > $P/park
sleep 1
refused safety-cold apply busy
pid=$(pidof ksplice_cold)
expect "names the .cold part" "$(cat $K/safety-cold/abort_message)" "task $pid (ksplice_cold) is inside ksplice_cold_func.cold+0x"
echo 0 > $P/park
sleep 1
expect "result of the old code" "$(cat $P/cold_result)" 1
stage safety-cold apply
sleep 1
expect "result of the new code" "$(cat $P/cold_result)" 2
stage safety-cold reverse
sleep 1
expect "result after reverse" "$(cat $P/cold_result)" 1
rmmod ksplice_safety_cold_ksplice_test_safety || fail "rmmod update"
rmmod ksplice_test_safety || fail "rmmod target"
rmmod ksplice || fail "rmmod ksplice"
echo PASS
`)
}

// safetyFuncPointer: new code that stores the address of a function the
// update replaces (ksplice_fp_publish() storing ksplice_fp_target) stores
// the original function's address, not the update module's copy: calls
// through the pointer reach the replacement while the update is applied
// (the old function's ftrace site sends them there), the old code after
// reverse, and, once the update module is gone, still the old code. With
// the copy's address, the call after reverse ran the new code (7), and
// the one after rmmod jumped into freed text.
func safetyFuncPointer(t *testing.T, k *kbuild.Kernel, kos map[string]string) {
	runSafetyScript(t, k, kos, []string{"ksplice", "ksplice_test_safety", "ksplice_safety_fp_ksplice_test_safety"}, `
P=/sys/module/ksplice_test_safety/parameters
load ksplice.ko
load ksplice_test_safety.ko
load ksplice_safety_fp_ksplice_test_safety.ko
[ $(( $(cat $K/safety-fp/flags) & 1 )) -eq 0 ] || fail "flags $(cat $K/safety-fp/flags): marked to be kept"
echo "ok: not marked to be kept"
stage safety-fp apply
echo 1 > $P/fp_publish
expect "the new code published the pointer" "$(cat $P/fp_published)" 2
echo 5 > $P/fp_call
expect "through the pointer, applied: new code" "$(cat $P/fp_result)" 7
stage safety-fp reverse
echo 5 > $P/fp_call
expect "through the pointer, reversed: old code" "$(cat $P/fp_result)" 6
rmmod ksplice_safety_fp_ksplice_test_safety || fail "rmmod update"
echo 5 > $P/fp_call
expect "through the pointer, update unloaded: old code" "$(cat $P/fp_result)" 6
rmmod ksplice_test_safety || fail "rmmod target"
rmmod ksplice || fail "rmmod ksplice"
echo PASS
`)
}

// safetyKeepModule: new code that queues a delayed work item whose
// function exists only in the update module (ksplice_wq_work_fn, new)
// publishes an address into the module: the generator marks the update
// (flags bit 0x1), and reverse, while the work is still pending, keeps the
// module (and its target) loaded: rmmod is refused, the work runs 8 s
// later from the kept module, with no oops. Re-apply and reverse work, and
// keep one reference only.
func safetyKeepModule(t *testing.T, k *kbuild.Kernel, kos map[string]string) {
	runSafetyScript(t, k, kos, []string{"ksplice", "ksplice_test_safety", "ksplice_safety_wq_ksplice_test_safety"}, `
P=/sys/module/ksplice_test_safety/parameters
U=ksplice_safety_wq_ksplice_test_safety
load ksplice.ko
load ksplice_test_safety.ko
load $U.ko
[ $(( $(cat $K/safety-wq/flags) & 1 )) -eq 1 ] || fail "flags $(cat $K/safety-wq/flags): not marked to be kept"
echo "ok: marked to be kept"
expect "not kept before any reverse" "$(cat $K/safety-wq/kept)" 0
stage safety-wq apply
echo 5 > $P/wq_call
expect "new code" "$(cat $P/wq_result)" 7
stage safety-wq reverse
expect "the work is still pending" "$(cat $P/wq_result)" 7
expect "kept" "$(cat $K/safety-wq/kept)" 1
expect "logged" "$(dmesg | grep 'safety-wq: reversed, module')" "module $U kept loaded"
rmmod $U 2>/dev/null && fail "rmmod of a kept update module succeeded"
echo "ok: rmmod of the kept update refused"
rmmod ksplice_test_safety 2>/dev/null && fail "rmmod of the kept update's target succeeded"
echo "ok: rmmod of its target refused"
i=0
while [ "$(cat $P/wq_result)" != 42 ] && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
expect "the work ran from the kept module" "$(cat $P/wq_result)" 42
echo 5 > $P/wq_call
expect "old code" "$(cat $P/wq_result)" 6
stage safety-wq apply
stage safety-wq reverse
expect "one reference kept" "$(cat /sys/module/$U/refcnt)" 1
echo PASS
`)
}

// TestSafety builds the modules once and runs each rule in a boot of its
// own.
func TestSafety(t *testing.T) {
	k := labtest.Kernel(t)
	if labtest.GOARCH(t, k) != "amd64" {
		t.Skip("the safety test modules are x86-64 objects")
	}
	kos := buildSafetyModules(t, k, t.TempDir())
	for _, c := range []struct {
		name string
		run  func(*testing.T, *kbuild.Kernel, map[string]string)
	}{
		{"privilege", safetyPrivilege},
		{"taint", safetyTaint},
		{"forced-unload", safetyForcedUnload},
		{"forced-unload-busy", safetyForcedUnloadBusy},
		{"forced-unload-target", safetyForcedUnloadTarget},
		{"jump-label", safetyJumpLabel},
		{"static-call", safetyStaticCall},
		{"cold-kprobe", safetyColdKprobe},
		{"func-pointer", safetyFuncPointer},
		{"keep-module", safetyKeepModule},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, k, kos) })
	}
}
