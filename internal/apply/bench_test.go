package apply_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
	"github.com/ksplice-go/ksplice/internal/update"
)

// benchFile is where the benchmark's updates change functions:
// fs/proc/generic.c has 27 global, out-of-line functions built into vmlinux,
// with ftrace sites (lib/ is built without them on Debian's kernels: its
// functions are refused as no-ftrace-site). KSPLICE_BENCH_FILE names another.
var benchFile = func() string {
	if f := os.Getenv("KSPLICE_BENCH_FILE"); f != "" {
		return f
	}
	return "fs/proc/generic.c"
}()

var funcStart = regexp.MustCompile(`^[a-z_].*\b([a-z_][a-z0-9_]*)\(`)

// nopPatch writes a patch that adds a nop to the first n global functions of
// benchFile, so that an update replaces exactly n functions.
func nopPatch(t testing.TB, src string, n int) (string, []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(src, benchFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var out, names []string
	var hunks strings.Builder
	sig := -1
	for i, l := range lines {
		if funcStart.MatchString(l) && !strings.HasPrefix(l, "static") && !strings.Contains(l, "__init") {
			sig = i
		}
		if l == "{" && sig >= 0 && len(names) < n && strings.HasSuffix(lines[i-1], ")") {
			names = append(names, funcStart.FindStringSubmatch(lines[sig])[1])
			// A hunk of one added line, with the brace and the line after
			// it as context.
			fmt.Fprintf(&hunks, "@@ -%d,2 +%d,3 @@\n %s\n+\tasm volatile(\"nop\");\n %s\n",
				i+1, i+1+len(names)-1, l, lines[i+1])
			sig = -1
		}
	}
	if len(names) < n {
		t.Fatalf("%s has only %d candidate functions", benchFile, len(names))
	}
	out = append(out, "Subject: [PATCH] bench: a nop in "+strconv.Itoa(n)+" functions", "",
		"--- a/"+benchFile, "+++ b/"+benchFile, strings.TrimSuffix(hunks.String(), "\n"))
	p := filepath.Join(t.TempDir(), fmt.Sprintf("nop%d.diff", n))
	if err := os.WriteFile(p, []byte(strings.Join(out, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, names
}

// BenchmarkStopMachine applies updates of 1, 10 and 20 functions in one
// boot and reports how long each held the CPUs in stop_machine, next to an
// empty stop_machine round measured in the same boot.
func BenchmarkStopMachine(b *testing.B) {
	k := labtest.Kernel(b)
	kmodSrc, err := create.FindKmodSrc(os.Getenv("KSPLICE_KMOD_SRC"))
	if err != nil {
		b.Skip(err)
	}
	dir := b.TempDir()
	var files []lab.File
	sizes := []int{1, 10, 20}
	threads := benchThreads
	// KSPLICE_BENCH_THREADS="0,1000" measures at those thread counts only:
	// under TCG on arm64 the full set takes hours.
	if env := os.Getenv("KSPLICE_BENCH_THREADS"); env != "" {
		threads = nil
		for _, f := range strings.Split(env, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatalf("KSPLICE_BENCH_THREADS: %v", err)
			}
			threads = append(threads, n)
		}
	}
	for _, n := range sizes {
		patch, _ := nopPatch(b, k.Source, n)
		p, err := srcpatch.ParseFile(patch)
		if err != nil {
			b.Fatal(err)
		}
		out := filepath.Join(dir, fmt.Sprintf("nop%d.tar", n))
		res, err := create.Create(context.Background(), create.Options{Kernel: k, Patch: p, PatchName: patch,
			ID: fmt.Sprintf("nop%d", n), Output: out, KmodSrc: kmodSrc})
		if err != nil {
			b.Fatal(err)
		}
		// Another file (KSPLICE_BENCH_FILE) may inline a changed function
		// into callers of the same file, which the update replaces too.
		if got := len(res.Manifest.Targets[0].Replaced()); got < n || (got != n && benchFile == "lib/bitmap.c") {
			b.Fatalf("nop%d replaces %d functions", n, got)
		} else if got != n {
			b.Logf("nop%d replaces %d functions (callers it is inlined into)", n, got)
		}
		files = append(files, lab.File{Host: out, Guest: "/root/" + filepath.Base(out)})
	}
	// Each round at T threads: the three updates and an empty round;
	// threads are sleeping tasks whose stacks the stack check walks.
	script := `set -e
have=0
for T in ` + strings.Trim(fmt.Sprint(threads), "[]") + `; do
	while [ $have -lt $T ]; do sleep 100000 & have=$((have+1)); done
	for i in $(seq ` + strconv.Itoa(benchRounds()) + `); do
		for n in 1 10 20; do
			# apply uses the engine that is loaded: with
			# pause_profile=1 it times the parts of each round.
			lsmod | grep -q '^ksplice ' || insmod ksplice.ko PROFILE
			ksplice apply --allow-unsigned nop$n.tar >/dev/null
			echo "nop$n@$T $(cat /sys/kernel/ksplice/nop$n/stop_machine_total_ns) $(cat /sys/kernel/ksplice/nop$n/stop_machine_ns)"
			echo "stack_check nop$n@$T $(cat /sys/kernel/ksplice/nop$n/stack_check)"
			echo "profile nop$n@$T $(cat /sys/kernel/ksplice/nop$n/pause_profile)"
			# The same update reversed and applied again by the
			# engine that stays loaded: a pause whose code the
			# emulator has translated before (warm).
			echo reverse > /sys/kernel/ksplice/nop$n/stage
			echo apply > /sys/kernel/ksplice/nop$n/stage
			echo "warm:nop$n@$T $(cat /sys/kernel/ksplice/nop$n/stop_machine_total_ns) $(cat /sys/kernel/ksplice/nop$n/stop_machine_ns)"
			echo "profile warm:nop$n@$T $(cat /sys/kernel/ksplice/nop$n/pause_profile)"
			ksplice undo nop$n >/dev/null
		done
		# undo unloaded the engine: the empty round loads it with bench=1
		insmod ksplice.ko bench=1 2>/dev/null || true
		echo 1 > /sys/kernel/ksplice/stop_machine_empty_ns
		echo "empty@$T $(cat /sys/kernel/ksplice/stop_machine_empty_ns) 0"
		if [ -e other.ko ]; then
			# The same updates through another engine (apply uses
			# the engine that is loaded).
			rmmod ksplice
			for n in 1 10 20; do
				insmod other.ko
				ksplice apply --allow-unsigned nop$n.tar >/dev/null
				echo "other:nop$n@$T $(cat /sys/kernel/ksplice/nop$n/stop_machine_total_ns) $(cat /sys/kernel/ksplice/nop$n/stop_machine_ns)"
				ksplice undo nop$n >/dev/null
			done
			lsmod | grep -q '^ksplice ' && rmmod ksplice
		else
			rmmod ksplice
		fi
	done
done
`
	// KSPLICE_BENCH_PROFILE=1 loads the engine with pause_profile=1: the
	// callback's parts are timed (and logged below), at the cost of a
	// clock read per part in every pause, so the pause itself is not
	// what it would be.
	profile := "pause_profile=0"
	if os.Getenv("KSPLICE_BENCH_PROFILE") == "1" {
		profile = "pause_profile=1"
	}
	script = strings.ReplaceAll(script, "PROFILE", profile)
	sp := filepath.Join(dir, "bench.sh")
	os.WriteFile(sp, []byte(script), 0o644)
	// The engine module, loaded for the empty rounds between updates.
	eng := filepath.Join(dir, "ksplice.ko")
	if err := extractEngine(files[0].Host, eng); err != nil {
		b.Fatal(err)
	}
	files = append(files, lab.File{Host: sp, Guest: "/root/bench.sh"}, lab.File{Host: eng, Guest: "/root/ksplice.ko"})
	// KSPLICE_BENCH_OTHER_ENGINE=PATH.ko measures the same updates through
	// another build of the engine in the same boot ("other:" metrics):
	// before and after a change of the stack check.
	other := os.Getenv("KSPLICE_BENCH_OTHER_ENGINE")
	if other != "" {
		files = append(files, lab.File{Host: other, Guest: "/root/other.ko"})
	}
	b.ResetTimer()
	out := labtest.Run(b, lab.RunOptions{Files: files, MemoryMB: 2048, Timeout: 30 * time.Minute, Command: []string{"sh", "bench.sh"}})
	b.StopTimer()
	// Medians of the rounds: one round slowed by the shared machine
	// does not move them.
	vals := map[string][2][]float64{}
	sc := bufio.NewScanner(strings.NewReader(out.Stdout))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		total, _ := strconv.ParseFloat(f[1], 64)
		cb, _ := strconv.ParseFloat(f[2], 64)
		v := vals[f[0]]
		vals[f[0]] = [2][]float64{append(v[0], total), append(v[1], cb)}
	}
	// Every round's measurements, in the order taken.
	for _, l := range strings.Split(out.Stdout, "\n") {
		if f := strings.Fields(l); len(f) == 3 && strings.Contains(f[0], "@") {
			b.Log("round ", l)
		}
	}
	// How each pause checked stacks (the engine's stack_check), round 1.
	for _, l := range strings.Split(out.Stdout, "\n") {
		if strings.HasPrefix(l, "stack_check ") && strings.Contains(l, "@") {
			b.Log(l)
		}
	}
	// Where the callback spent its time (pause_profile=1): the median of
	// each part over the rounds, in microseconds.
	prof := map[string]map[string][]float64{}
	var profIDs []string
	for _, l := range strings.Split(out.Stdout, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "profile" || len(f)%2 != 0 || profile != "pause_profile=1" {
			continue
		}
		if prof[f[1]] == nil {
			prof[f[1]] = map[string][]float64{}
			profIDs = append(profIDs, f[1])
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, _ := strconv.ParseFloat(f[i+1], 64)
			prof[f[1]][f[i]] = append(prof[f[1]][f[i]], v)
		}
	}
	for _, id := range profIDs {
		var parts []string
		for _, k := range []string{"gap", "again", "log", "idle", "scan", "unwind", "text_check", "switch", "write"} {
			if v := prof[id][k]; len(v) > 0 {
				parts = append(parts, fmt.Sprintf("%s %.1f", k, median(v)/1e3))
			}
		}
		for _, k := range []string{"logged", "scanned", "unwound"} {
			if v := prof[id][k]; len(v) > 0 {
				parts = append(parts, fmt.Sprintf("%s %.0f", k, median(v)))
			}
		}
		b.Logf("callback profile %s (us, medians): %s", id, strings.Join(parts, ", "))
	}
	count := func(key string) int { return len(vals[key][0]) }
	avg := func(key string, i int) float64 { return median(vals[key][i]) }
	for _, T := range threads {
		empty := fmt.Sprintf("empty@%d", T)
		if count(empty) == 0 || count(fmt.Sprintf("nop20@%d", T)) == 0 {
			b.Fatalf("no measurements at %d threads:\n%s\n%s", T, out.Stdout, out.Stderr)
		}
		e := avg(empty, 0)
		b.ReportMetric(e/1e6, fmt.Sprintf("empty-%dthr-ms", T))
		for _, n := range sizes {
			if T != 0 && n != 20 {
				continue // with threads, the largest update says enough
			}
			id := fmt.Sprintf("nop%d@%d", n, T)
			b.ReportMetric(avg(id, 0)/1e6, fmt.Sprintf("%dfn-%dthr-ms", n, T))
			b.ReportMetric(avg(id, 1)/1e6, fmt.Sprintf("%dfn-%dthr-callback-ms", n, T))
			b.ReportMetric(avg(id, 0)/e, fmt.Sprintf("%dfn-%dthr/empty", n, T))
			if count("warm:"+id) > 0 {
				b.ReportMetric(avg("warm:"+id, 0)/1e6, fmt.Sprintf("warm-%dfn-%dthr-ms", n, T))
				b.ReportMetric(avg("warm:"+id, 1)/1e6, fmt.Sprintf("warm-%dfn-%dthr-callback-ms", n, T))
				b.ReportMetric(avg("warm:"+id, 0)/e, fmt.Sprintf("warm-%dfn-%dthr/empty", n, T))
			}
			if other != "" && count("other:"+id) > 0 {
				b.ReportMetric(avg("other:"+id, 0)/1e6, fmt.Sprintf("other-%dfn-%dthr-ms", n, T))
				b.ReportMetric(avg("other:"+id, 1)/1e6, fmt.Sprintf("other-%dfn-%dthr-callback-ms", n, T))
				b.ReportMetric(avg("other:"+id, 0)/e, fmt.Sprintf("other-%dfn-%dthr/empty", n, T))
			}
		}
	}
}

// median of v (not empty); v is sorted in place.
func median(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// benchRounds is how many times the benchmark applies each update at each
// thread count (KSPLICE_BENCH_ROUNDS, default 5); it reports medians.
func benchRounds() int {
	if n, err := strconv.Atoi(os.Getenv("KSPLICE_BENCH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 5
}

// benchThreads are the numbers of extra sleeping tasks the stop_machine
// benchmark measures at, the goal being at most 2x the empty round at 20
// functions and 1000 threads.
var benchThreads = []int{0, 100, 1000, 10000}

// extractEngine copies the engine module out of an update tarball.
func extractEngine(tarball, dst string) error {
	u, err := update.ReadFile(tarball)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, u.Files[u.Manifest.Core], 0o644)
}
