package create

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// BenchmarkCreate measures create for a one-file patch on a warm cache,
// stage by stage, against the floor measured in the same run: Kbuild
// compiling the same object twice from scratch, which any create must pay.
func BenchmarkCreate(b *testing.B) {
	k := labtest.Kernel(b)
	const patch = "../../testdata/patches/proc-cmdline-string.diff"
	kmodSrc, err := FindKmodSrc(os.Getenv("KSPLICE_KMOD_SRC"))
	if err != nil {
		b.Skip(err)
	}
	dir := b.TempDir()
	run := func() *Result {
		p, err := srcpatch.ParseFile(patch)
		if err != nil {
			b.Fatal(err)
		}
		res, err := Create(context.Background(), Options{Kernel: k, Patch: p, PatchName: patch, ID: "bench",
			Output: filepath.Join(dir, "bench.tar"), KmodSrc: kmodSrc})
		if err != nil {
			b.Fatal(err)
		}
		return res
	}
	run() // warm: engine built, post tree prepared

	// The floor: compile fs/proc/cmdline.o twice, as create must.
	var floor time.Duration
	pre := newWorkspace(k, "post", kernelTree(k)).preTree()
	unlock, err := k.Lock(nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		pre.Remove([]string{"fs/proc/cmdline.o"})
		start := time.Now()
		if _, err := pre.BuildObjects(context.Background(), []string{"fs/proc/cmdline.o"}, nil); err != nil {
			unlock()
			b.Fatal(err)
		}
		floor += time.Since(start)
	}
	unlock()

	b.ResetTimer()
	stages := map[string]int64{}
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		res := run()
		total += time.Since(start)
		for _, st := range res.Stages {
			stages[st.Name] += st.Millis
		}
	}
	n := float64(b.N)
	for name, ms := range stages {
		b.ReportMetric(float64(ms)/n, name+"-ms")
	}
	b.ReportMetric(floor.Seconds()*1000, "floor-ms")
	b.ReportMetric(total.Seconds()/n/floor.Seconds(), "create/floor")
}
