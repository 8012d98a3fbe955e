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
	run := func() time.Duration {
		p, err := srcpatch.ParseFile(patch)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := Create(context.Background(), Options{Kernel: k, Patch: p, PatchName: patch, ID: "bench",
			Output: filepath.Join(dir, "bench.tar"), KmodSrc: kmodSrc}); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	b.Setenv("KSPLICE_CCACHE", "0")
	run() // the engine built, the post tree prepared, the pre objects built
	b.ResetTimer()
	var off, cold, warm time.Duration
	for i := 0; i < b.N; i++ {
		b.Setenv("KSPLICE_CCACHE", "0")
		off += run()
		b.Setenv("KSPLICE_CCACHE", "")
		b.Setenv("KSPLICE_CCACHE_DIR", b.TempDir())
		cold += run()
		warm += run()
	}
	n := float64(b.N)
	b.ReportMetric(off.Seconds()/n, "off-s")
	b.ReportMetric(cold.Seconds()/n, "cold-s")
	b.ReportMetric(warm.Seconds()/n, "warm-s")
	b.ReportMetric(warm.Seconds()/cold.Seconds(), "warm/cold")
	b.ReportMetric(warm.Seconds()/off.Seconds(), "warm/off")
}
