package create

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// BenchmarkCreateCCache measures one create with the compile cache turned
// off (KSPLICE_CCACHE=0), on a cold cache (an empty one: every compile
// misses and stores) and on a warm one (the same create again: every
// compile hits), all in the same run, and reports the ratios. The patch
// changes a header two objects include (fs/proc/base.o, one of the
// larger objects of fs/, and fd.o), so that compiling weighs as it does
// in a release delta; the pre-patch objects stay built in the kernel's
// tree (create builds them only once), the post-patch ones are compiled
// by every create.
func BenchmarkCreateCCache(b *testing.B) {
	k := labtest.Kernel(b)
	const patch = "../../testdata/patches/proc-fd-header.diff"
	kmodSrc, err := FindKmodSrc(os.Getenv("KSPLICE_KMOD_SRC"))
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	// Each run's total and its build stages (build-pre, build-post: the
	// compiles), by mode.
	type times struct {
		total, build time.Duration
	}
	run := func() times {
		p, err := srcpatch.ParseFile(patch)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		res, err := Create(context.Background(), Options{Kernel: k, Patch: p, PatchName: patch, ID: "bench",
			Output: filepath.Join(dir, "bench.tar"), KmodSrc: kmodSrc})
		if err != nil {
			b.Fatal(err)
		}
		t := times{total: time.Since(start)}
		for _, st := range res.Stages {
			if strings.HasPrefix(st.Name, "build-p") {
				t.build += time.Duration(st.Millis) * time.Millisecond
			}
		}
		return t
	}
	b.Setenv("KSPLICE_CCACHE", "0")
	run() // the engine built, the post tree prepared, the pre objects built
	b.ResetTimer()
	var off, cold, warm times
	add := func(sum *times, t times) { sum.total += t.total; sum.build += t.build }
	hits := 0
	for i := 0; i < b.N; i++ {
		// The order varies, so that a change in the machine's load
		// during the run does not favour one mode.
		cache := b.TempDir()
		modes := []func(){
			func() { b.Setenv("KSPLICE_CCACHE", "0"); add(&off, run()) },
			func() {
				b.Setenv("KSPLICE_CCACHE", "")
				b.Setenv("KSPLICE_CCACHE_DIR", cache)
				add(&cold, run())
				before := ccacheHits(b, cache)
				add(&warm, run())
				hits += ccacheHits(b, cache) - before
			},
		}
		if i%2 == 1 {
			modes[0], modes[1] = modes[1], modes[0]
		}
		for _, m := range modes {
			m()
		}
	}
	if hits == 0 {
		b.Fatal("the warm creates had no cache hit")
	}
	n := float64(b.N)
	b.ReportMetric(off.total.Seconds()/n, "off-s")
	b.ReportMetric(cold.total.Seconds()/n, "cold-s")
	b.ReportMetric(warm.total.Seconds()/n, "warm-s")
	b.ReportMetric(off.build.Seconds()/n, "off-build-s")
	b.ReportMetric(cold.build.Seconds()/n, "cold-build-s")
	b.ReportMetric(warm.build.Seconds()/n, "warm-build-s")
	b.ReportMetric(float64(hits)/n, "warm-hits")
	b.ReportMetric(warm.total.Seconds()/cold.total.Seconds(), "warm/cold")
	b.ReportMetric(warm.build.Seconds()/off.build.Seconds(), "warm/off-build")
}

// ccacheHits is the number of cache hits ccache counted in dir.
func ccacheHits(b *testing.B, dir string) int {
	c := exec.Command("ccache", "--print-stats")
	c.Env = append(os.Environ(), "CCACHE_DIR="+dir)
	out, err := c.Output()
	if err != nil {
		b.Fatalf("ccache --print-stats: %v", err)
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(l, "\t")
		if k == "direct_cache_hit" || k == "preprocessed_cache_hit" {
			x, _ := strconv.Atoi(v)
			n += x
		}
	}
	return n
}
