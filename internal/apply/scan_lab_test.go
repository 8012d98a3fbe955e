package apply_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/patchgen"
)

// moduleUpdate builds, for k, the engine, a test target module (the
// Kbuild directory src, module name) and the update that patchgen makes
// from its objects (rels) and the objects built with
// KSPLICE_TEST_PATCHED=y, carrying exactly the functions want (as gen.go
// does for the x86-64 fixtures, but for k's architecture and compiler, so
// that run-pre matches the module the guest loads). It returns module name
// -> .ko path for the engine ("ksplice"), the target and the update
// ("ksplice_ID_MODULE").
//
// The modules are built once per test process for each kernel and target:
// the stack-check tests load the same ones.
func moduleUpdate(t *testing.T, k *kbuild.Kernel, src, module, id string, rels, want []string) map[string]string {
	t.Helper()
	key := strings.Join(append([]string{k.Release, src, module, id, strings.Join(rels, " ")}, want...), "\x00")
	builtModules.Lock()
	defer builtModules.Unlock()
	if kos, ok := builtModules.kos[key]; ok {
		return maps.Clone(kos)
	}
	dir, err := testDir("ksplice-apply-modules-")
	if err != nil {
		t.Fatal(err)
	}
	kos := buildModuleUpdate(t, k, dir, src, module, id, rels, want)
	if builtModules.kos == nil {
		builtModules.kos = map[string]map[string]string{}
	}
	builtModules.kos[key] = kos
	return maps.Clone(kos)
}

// builtModules holds moduleUpdate's modules: key -> module name -> .ko.
var builtModules struct {
	sync.Mutex
	kos map[string]map[string]string
}

// buildModuleUpdate is moduleUpdate's build, in dir.
func buildModuleUpdate(t *testing.T, k *kbuild.Kernel, dir, src, module, id string, rels, want []string) map[string]string {
	t.Helper()
	ctx := context.Background()
	root, _ := filepath.Abs("../..")
	cp := func(src, dst string) {
		if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v\n%s", src, err, out)
		}
	}
	build := func(d, name string, vars ...string) string {
		if _, err := kbuild.BuildModule(ctx, k, d, os.Stderr, vars...); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(d, name+".ko")
	}
	kos := map[string]string{}
	cp(filepath.Join(root, "kmod-src"), filepath.Join(dir, "kmod-src"))
	kos["ksplice"] = build(filepath.Join(dir, "kmod-src"), "ksplice")
	pre, post := filepath.Join(dir, "pre"), filepath.Join(dir, "post")
	cp(filepath.Join(root, src), pre)
	cp(filepath.Join(root, src), post)
	kos[module] = build(pre, module)
	build(post, module, "KSPLICE_TEST_PATCHED=y")

	var objs []patchgen.Object
	var carried []string
	for _, rel := range rels {
		a, err := elfdiff.Open(filepath.Join(pre, rel))
		if err != nil {
			t.Fatal(err)
		}
		b, err := elfdiff.Open(filepath.Join(post, rel))
		if err != nil {
			t.Fatal(err)
		}
		res, err := elfdiff.Diff(a, b)
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		for _, fd := range res.CarriedFunctions() {
			carried = append(carried, fd.Name)
		}
		objs = append(objs, patchgen.Object{Rel: rel, Result: res})
	}
	if !slices.Equal(carried, want) {
		t.Fatalf("the update carries %v, want %v", carried, want)
	}
	exported := map[string]bool{}
	for _, f := range []string{filepath.Join(k.Headers, "Module.symvers"), filepath.Join(pre, "Module.symvers")} {
		m, err := patchgen.ReadSymvers(f)
		if err != nil {
			t.Fatal(err)
		}
		maps.Copy(exported, m)
	}
	m, err := patchgen.Generate(patchgen.Input{
		ID: id, Description: "test update", Target: module, Objects: objs,
		Exported: func(s string) bool { return exported[s] },
	})
	if err != nil {
		t.Fatal(err)
	}
	ud := filepath.Join(dir, "update")
	if err := os.MkdirAll(filepath.Join(ud, "include"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range m.Files {
		if err := os.WriteFile(filepath.Join(ud, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cp(filepath.Join(root, "kmod-src/ksplice.h"), filepath.Join(ud, "include/ksplice.h"))
	kos[m.Name] = build(ud, m.Name, "KBUILD_EXTRA_SYMBOLS="+filepath.Join(dir, "kmod-src/Module.symvers"))
	return kos
}

// scanScript parks the kthread ksplice_scan in mutex_lock() called (through
// ksplice_scan_deep()) from ksplice_scan_func(), the function the update
// replaces: directly (depth 0) and 200 calls deep; apply must be refused
// both times with the task named (want0, want200: what the message says),
// and work once the thread is gone.
const scanScript = `P=/sys/module/ksplice_test_scan/parameters
load ksplice.ko
load ksplice_test_scan.ko
load ksplice_scan_ksplice_test_scan.ko
dmesg | grep 'no reliable stack unwinder' || true
for d in 0 200; do
	echo $d > $P/depth
	echo 1 > $P/start || fail "start"
	sleep 1
	pid=$(pidof ksplice_scan) || fail "no ksplice_scan thread"
	refused scan apply busy
	case $d in 0) want="%s" ;; *) want="%s" ;; esac
	expect "depth $d: names the task" "$(cat $K/scan/abort_message)" "task $pid (ksplice_scan)$want"
	expect "depth $d: stage" "$(cat $K/scan/stage)" loaded
	echo 1 > $P/finish || fail "finish"
	expect "depth $d: old code ran" "$(cat $P/result)" $((d + 1))
done
echo 0 > $P/depth
stage scan apply
echo 1 > $P/call
expect "new code" "$(cat $P/result)" 2
stage scan reverse
echo 1 > $P/call
expect "old code" "$(cat $P/result)" 1
echo PASS
`

// TestStackCheck boots each lab kernel once for two cases of a task
// inside the function an update replaces:
//
// mutex: a kthread sleeping in mutex_lock() called from the function makes
// apply busy, naming the task: on amd64 through the reliable unwinder
// (200 calls deep, the stack is longer than its walk, and unreliable
// counts as busy), on arm64 (no reliable unwinder in 6.1) through the scan
// of every word of the stack. With the arm64 walk of before,
// stack_trace_save_tsk(), the 200-deep case applied while the thread
// slept inside the old function: its 128 entries end before
// ksplice_scan_func's frame.
//
// graph-tracer: a kthread sleeping under a callee that the function graph
// tracer traces makes apply busy, although the return address into the
// function is no longer on its stack (graphScript).
func TestStackCheck(t *testing.T) {
	labtest.ForEachKernel(t, func(t *testing.T, k *kbuild.Kernel) {
		kos := moduleUpdate(t, k, "testdata/stackscan", "ksplice_test_scan", "scan",
			[]string{"ksplice_test_scan.o"}, []string{"ksplice_scan_func"})
		want0, want200 := " is inside ksplice_scan_func+0x", ": cannot check its stack: the unwinder cannot walk it reliably"
		if labtest.GOARCH(t, k) == "arm64" {
			want200 = want0
		}
		start := time.Now()
		const mark = "=== graph-tracer\n"
		out := runSafety(t, k, kos, []string{"ksplice", "ksplice_test_scan", "ksplice_scan_ksplice_test_scan"},
			fmt.Sprintf(scanScript, want0, want200)+"echo "+mark+graphScript, nil)
		t.Logf("%s: %v", k.Release, time.Since(start).Round(time.Second))
		mutex, graph, ok := strings.Cut(out, mark)
		if !ok {
			t.Fatalf("the guest did not get to the graph tracer's case:\n%s", out)
		}
		t.Run("mutex", func(t *testing.T) {
			inOrder(t, mutex, []string{
				"ok: apply scan refused: task",
				"ok: depth 0: names the task",
				"ok: depth 0: old code ran",
				"ok: apply scan refused: task",
				"ok: depth 200: names the task",
				"ok: depth 200: old code ran",
				"ok: apply scan",
				"ok: new code",
				"ok: reverse scan",
				"ok: old code",
			})
		})
		t.Run("graph-tracer", func(t *testing.T) {
			inOrder(t, graph, okLines(graphScript))
			if i := strings.Index(graph, "ok: names the task: "); i >= 0 {
				t.Logf("%s: %s", k.Release, strings.SplitN(graph[i:], "\n", 2)[0])
			}
		})
	})
}

// windowScript loads the engine with prescan_delay_ms=6000 (it sleeps 6 s
// between the prescan of each round and its stop_machine, and says when
// the prescan is done) and starts ksplice_scan with hold_off=1: it sleeps
// outside ksplice_scan_func(), so the first round's prescan finds it
// clean. Once that prescan is done, hold_off=0 lets it enter the function
// and park in mutex_lock() before that round's stop_machine. The pause
// checks only the tasks the sched_switch log says ran since the prescan:
// if the log missed ksplice_scan, the first round would apply the update
// with the task inside the old code. It must be refused, naming the task,
// and the engine's log must show that the first round's prescan did not
// find it inside and its pause found it through the switch log. A
// plain apply then says how its pause went (stack_check).
const windowScript = `P=/sys/module/ksplice_test_scan/parameters
insmod ksplice.ko prescan_delay_ms=6000 || fail "insmod ksplice.ko"
load ksplice_test_scan.ko
load ksplice_scan_ksplice_test_scan.ko
echo 0 > $P/depth
echo 1 > $P/hold_off
echo 1 > $P/start || fail "start"
pid=$(pidof ksplice_scan) || fail "no ksplice_scan thread"
(echo apply > $K/scan/stage) 2>/dev/null &
apply=$!
i=0
until dmesg | grep -q 'scan: prescan done'; do
	i=$((i + 1))
	[ $i -lt 120 ] || fail "no prescan in 120 s"
	sleep 1
done
echo 0 > $P/hold_off
wait $apply && fail "apply succeeded with ksplice_scan inside"
expect "apply refused" "$(cat $K/scan/abort_cause)" busy
expect "names the task" "$(cat $K/scan/abort_message)" "task $pid (ksplice_scan) is inside ksplice_scan_func+0x"
dmesg | grep 'scan: attempt' || fail "no attempt lines"
a1=$(dmesg | grep 'scan: attempt 1:')
# The word scan of arm64 may find other tasks inside (a stale word that
# looks like an address in the code): ksplice_scan must not be one.
case "${a1%%; pause:*}" in
*" $pid (ksplice_scan)"*) fail "round 1: the prescan found ksplice_scan inside: $a1" ;;
esac
echo "ok: round 1: the prescan did not find ksplice_scan inside"
expect "round 1: its pause found the task through the switch log" "$a1" "(switch log): task $pid (ksplice_scan) is inside ksplice_scan_func+0x"
expect "round 2: the prescan found it inside" "$(dmesg | grep 'scan: attempt 2:')" " $pid (ksplice_scan) ksplice_scan_func+0x"
expect "stage" "$(cat $K/scan/stage)" loaded
echo 1 > $P/finish || fail "finish"
expect "old code ran" "$(cat $P/result)" 1
stage scan apply
echo "stack_check: $(cat $K/scan/stack_check)"
expect "the pause checked the switch log's tasks" "$(cat $K/scan/stack_check)" "log "
echo 1 > $P/call
expect "new code" "$(cat $P/result)" 2
stage scan reverse
echo PASS
`

// TestStackCheckWindow: a task that enters the function being replaced
// between the prescan and stop_machine is found by the pause, which checks
// only the tasks that ran since the prescan (the sched_switch log), on
// every lab kernel.
func TestStackCheckWindow(t *testing.T) {
	labtest.ForEachKernel(t, func(t *testing.T, k *kbuild.Kernel) {
		kos := moduleUpdate(t, k, "testdata/stackscan", "ksplice_test_scan", "scan",
			[]string{"ksplice_test_scan.o"}, []string{"ksplice_scan_func"})
		runSafetyScript(t, k, kos, []string{"ksplice", "ksplice_test_scan", "ksplice_scan_ksplice_test_scan"}, windowScript)
	})
}

// TestRunPrePerObject: the two objects of ksplice_test_objs each have a
// static "counter" that the replaced function of each uses, at two
// addresses. run-pre matching deduces both and must not compare them (it
// did, by name across objects: symbol_conflict, a false refusal); and the
// new code of each object must use its own counter.
func TestRunPrePerObject(t *testing.T) {
	k := labtest.Kernel(t)
	kos := moduleUpdate(t, k, "testdata/perobject", "ksplice_test_objs", "objs",
		[]string{"objs_a.o", "objs_b.o"}, []string{"ksplice_objs_a", "ksplice_objs_b"})
	runSafety(t, k, kos, []string{"ksplice", "ksplice_test_objs", "ksplice_objs_ksplice_test_objs"}, `
P=/sys/module/ksplice_test_objs/parameters
load ksplice.ko
load ksplice_test_objs.ko
load ksplice_objs_ksplice_test_objs.ko
echo 1 > $P/call_a; echo 1 > $P/call_b
expect "old code, a" "$(cat $P/result_a)" 11
expect "old code, b" "$(cat $P/result_b)" 101
stage objs apply
echo 1 > $P/call_a; echo 1 > $P/call_b
expect "new code, a's counter" "$(cat $P/result_a)" 22
expect "new code, b's counter" "$(cat $P/result_b)" 202
stage objs reverse
echo 1 > $P/call_a; echo 1 > $P/call_b
expect "old code again, a" "$(cat $P/result_a)" 31
expect "old code again, b" "$(cat $P/result_b)" 301
echo PASS
`, []string{
		"ok: old code, a", "ok: old code, b", "ok: apply objs",
		"ok: new code, a's counter", "ok: new code, b's counter",
		"ok: reverse objs", "ok: old code again, a", "ok: old code again, b",
	})
}

// TestStackCheckCost measures the stop_machine pause of apply and reverse
// of the one-function update of ksplice_test_scan with 1000 extra sleeping
// tasks, next to an empty round, in one boot of each lab kernel: with this
// engine and, if KSPLICE_SCAN_COST_OTHER names one (a build of another
// engine for the same kernel, e.g. before a change of the stack check),
// with that one too. Only with KSPLICE_SCAN_COST=1: it reports numbers,
// it checks nothing but that every round worked.
func TestStackCheckCost(t *testing.T) {
	if os.Getenv("KSPLICE_SCAN_COST") != "1" {
		t.Skip("a measurement: set KSPLICE_SCAN_COST=1")
	}
	labtest.ForEachKernel(t, func(t *testing.T, k *kbuild.Kernel) {
		kos := moduleUpdate(t, k, "testdata/stackscan", "ksplice_test_scan", "scan",
			[]string{"ksplice_test_scan.o"}, []string{"ksplice_scan_func"})
		engines := "ksplice"
		if other := os.Getenv("KSPLICE_SCAN_COST_OTHER"); other != "" {
			kos["other"] = other
			engines += " other"
		}
		mods := []string{"ksplice", "ksplice_test_scan", "ksplice_scan_ksplice_test_scan"}
		if kos["other"] != "" {
			mods = append(mods, "other")
		}
		out := runSafety(t, k, kos, mods, `
i=0
while [ $i -lt 1000 ]; do sleep 100000 & i=$((i + 1)); done
echo "tasks: $(ls -d /proc/[0-9]* | wc -l)"
load ksplice_test_scan.ko
for e in `+engines+`; do
	insmod $e.ko bench=1 || fail "insmod $e.ko"
	load ksplice_scan_ksplice_test_scan.ko
	for r in 1 2 3 4 5; do
		echo 1 > $K/stop_machine_empty_ns
		echo "cost $e empty $(cat $K/stop_machine_empty_ns) 0"
		echo apply > $K/scan/stage || fail "apply: $(cat $K/scan/abort_message)"
		echo "cost $e apply $(cat $K/scan/stop_machine_total_ns) $(cat $K/scan/stop_machine_ns)"
		echo reverse > $K/scan/stage || fail "reverse: $(cat $K/scan/abort_message)"
		echo "cost $e reverse $(cat $K/scan/stop_machine_total_ns) $(cat $K/scan/stop_machine_ns)"
	done
	rmmod ksplice_scan_ksplice_test_scan || fail "rmmod update"
	rmmod ksplice || fail "rmmod engine"
done
echo PASS
`, nil)
		// Medians per engine and round kind.
		vals := map[string][][2]float64{}
		for _, l := range strings.Split(out, "\n") {
			f := strings.Fields(l)
			if len(f) != 5 || f[0] != "cost" {
				continue
			}
			var total, cb float64
			fmt.Sscan(f[3], &total)
			fmt.Sscan(f[4], &cb)
			key := f[1] + " " + f[2]
			vals[key] = append(vals[key], [2]float64{total, cb})
		}
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, key := range keys {
			v := vals[key]
			slices.SortFunc(v, func(a, b [2]float64) int { return int(a[0] - b[0]) })
			m := v[len(v)/2]
			t.Logf("%s: %s: median stop_machine %.2f ms (callback %.2f ms) of %d rounds", k.Release, key, m[0]/1e6, m[1]/1e6, len(v))
		}
	})
}

// graphScript is scanScript's depth-0 case with the function graph tracer
// on ksplice_scan_deep(), the callee ksplice_scan sleeps under: the
// tracer replaces the return address into ksplice_scan_func() with
// return_to_handler's and keeps the real one in the task's ret_stack, out
// of a stack scan's sight. The apply must still be refused while the
// thread is inside: amd64's unwinder finds the real address (through the
// ret_stack), arm64's word scan refuses on the trampoline (or on a word
// that still holds the address). Tracer off, the update applies. It runs
// after scanScript, in the same boot: the modules are loaded, the update
// reversed.
const graphScript = `P=/sys/module/ksplice_test_scan/parameters
T=/sys/kernel/tracing
[ -e $T/trace ] || mount -t tracefs nodev $T
echo ksplice_scan_deep > $T/set_ftrace_filter || fail "ksplice_scan_deep is not traceable"
echo function_graph > $T/current_tracer || fail "no function_graph tracer"
echo 0 > $P/depth
echo 1 > $P/start || fail "start"
sleep 1
pid=$(pidof ksplice_scan) || fail "no ksplice_scan thread"
refused scan apply busy
msg=$(cat $K/scan/abort_message)
case "$msg" in
"task $pid (ksplice_scan) is inside ksplice_scan_func+0x"*|"task $pid (ksplice_scan): cannot check its stack: the function graph tracer holds a return address aside"*)
	echo "ok: names the task: $msg" ;;
*) fail "abort message: $msg" ;;
esac
echo 1 > $P/finish || fail "finish"
expect "old code ran" "$(cat $P/result)" 1
grep -q 'ksplice_scan_deep' $T/trace || fail "the graph tracer saw no call"
echo "ok: traced"
echo nop > $T/current_tracer
stage scan apply
echo 1 > $P/call
expect "new code" "$(cat $P/result)" 2
stage scan reverse
echo PASS
`
