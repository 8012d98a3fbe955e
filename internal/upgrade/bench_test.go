package upgrade_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/upgrade"
)

// BenchmarkUpgradeDelta measures create --upgrade-to on part of a release
// delta, on a warm compile cache, next to the floor measured in the same
// run: Kbuild compiling each object the updates rebuild twice, from
// scratch and without the cache, as any tool that diffs objects must; and
// how it scales from one create at a time to two (the machine's cores).
//
// The delta is $KSPLICE_BENCH_UPGRADE_KERNEL (debian:6.1.0-53-amd64) to
// $KSPLICE_UPGRADE_TO (6.1.190-1), limited to the changed files matching
// $KSPLICE_BENCH_UPGRADE_FILES (block/*.c by default, five updates of
// vmlinux; "all", as make bench sets it, for the whole delta's built-in C:
// 36 minutes on two cores). Each timed
// run has a ToolHash of its own, so that no update comes from the cache
// of created updates: every group is created again, only the compiles hit.
// Each of create's stages is reported per object rebuilt (diff-ms/obj,
// generate-ms/obj, build-pre-ms/obj, ...), from the -j 1 runs.
func BenchmarkUpgradeDelta(b *testing.B) {
	spec := os.Getenv("KSPLICE_BENCH_UPGRADE_KERNEL")
	if spec == "" {
		spec = "debian:6.1.0-53-amd64"
	}
	to := os.Getenv("KSPLICE_UPGRADE_TO")
	if to == "" {
		to = "6.1.190-1"
	}
	pattern := os.Getenv("KSPLICE_BENCH_UPGRADE_FILES")
	if pattern == "" {
		pattern = "block/*.c"
	}
	// The scan of a header's includers costs 0.6 s an object here: the
	// delta's net/ fixes that need include/net/dst.h (2418 objects) would
	// add hours to each of the three runs. make bench bounds it.
	maxScan := 0
	if v := os.Getenv("KSPLICE_BENCH_UPGRADE_MAX_SCAN"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		maxScan = n
	}
	files := strings.Fields(pattern)
	if pattern == "all" {
		files = nil
	}
	k := labtest.KernelFor(b, spec)
	kmodSrc, err := filepath.Abs("../../kmod-src")
	if err != nil {
		b.Fatal(err)
	}
	runs := 0
	delta := func(jobs int) (*upgrade.Report, time.Duration) {
		runs++
		start := time.Now()
		r, err := upgrade.Run(context.Background(), upgrade.Options{
			Kernel: k, To: to, Output: b.TempDir(), Jobs: jobs, KmodSrc: kmodSrc, Tool: "ksplice bench",
			ToolHash: fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), runs),
			Files:    files, Targets: []string{"vmlinux"}, MaxScan: maxScan,
		})
		if err != nil {
			b.Fatal(err)
		}
		return r, time.Since(start)
	}
	r, _ := delta(2) // warms the compile cache and the kernel's trees
	// The objects of the changed .c files tried (a group made with its
	// release's headers rebuilds more: those are not in the floor): each
	// file's own, or that of the .c file that includes it
	// (kernel/sched/cpufreq_schedutil.c in build_utility.c), as create
	// rebuilds it.
	seen := map[string]bool{}
	var objs []string
	for _, f := range r.Files {
		if f.Class == "built" && f.Category != upgrade.NotTried && strings.HasSuffix(f.Path, ".c") && !seen[f.Object] {
			seen[f.Object] = true
			objs = append(objs, f.Object)
		}
	}
	if len(objs) == 0 {
		b.Fatalf("no update tried for %s: %+v", pattern, r.Summary)
	}
	// The floor: each object compiled twice without the cache, in the
	// kernel's own tree (its objects are built again, identical).
	b.Setenv("KSPLICE_CCACHE", "0")
	tree := k.Tree
	unlock, err := k.Lock(nil)
	if err != nil {
		b.Fatal(err)
	}
	var floor time.Duration
	for i := 0; i < 2; i++ {
		if err := tree.Remove(objs); err != nil {
			unlock()
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := tree.BuildObjects(context.Background(), objs, nil); err != nil {
			unlock()
			b.Fatal(err)
		}
		floor += time.Since(start)
	}
	unlock()
	b.Setenv("KSPLICE_CCACHE", "")
	b.ResetTimer()
	var j1, j2 time.Duration
	stages := map[string]int64{} // ms, over the -j 1 runs' updates
	made := 0                    // objects those updates rebuilt
	for i := 0; i < b.N; i++ {
		r, d := delta(1)
		j1 += d
		for _, oc := range r.Updates {
			if oc.Category != upgrade.Carried || oc.Cached {
				continue
			}
			made += oc.Objects
			for name, ms := range oc.StageMillis {
				stages[name] += ms
			}
		}
		_, d = delta(2)
		j2 += d
	}
	// What create's own steps cost next to its builds, per object: the
	// diff and the module's generation must never be the slow part.
	if made > 0 {
		for name, ms := range stages {
			b.ReportMetric(float64(ms)/float64(made), name+"-ms/obj")
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(len(objs)), "objects")
	b.ReportMetric(floor.Seconds(), "floor-s")
	b.ReportMetric(j1.Seconds()/n, "j1-s")
	b.ReportMetric(j2.Seconds()/n, "j2-s")
	b.ReportMetric(j1.Seconds()/n/floor.Seconds(), "j1/floor")
	b.ReportMetric(j2.Seconds()/j1.Seconds(), "j2/j1")
}
