package create

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// perObjectPatch changes one function in each of four built-in objects;
// its context is the same in Debian's 6.1 and 6.12 sources.
const perObjectPatch = "../../testdata/patches/proc-four-objects.diff"

var perObjectObjs = []string{"fs/proc/cmdline.o", "fs/proc/version.o", "fs/proc/loadavg.o", "fs/proc/uptime.o"}

// BenchmarkCreatePerObject measures create's time per changed object on
// every lab kernel (KSPLICE_LAB_KERNELS: 6.1 and 6.12, amd64 and arm64),
// next to the compile floor measured in the same run on the same kernel:
// Kbuild compiling the same objects from scratch before and after the
// patch, with the trees and compilers create uses (on arm64, the pre
// objects with the kernel's own gcc under qemu-user). Each create starts
// with the pre objects removed, so that it pays both compiles as the floor
// does, and the compile cache is off. The last sub-benchmark compares the architectures per series:
// arm64's create time per object over amd64's (the goal is at most 2).
//
// Then the same create with the compile cache on and warm (create-cached):
// what a second update touching the same objects costs, once the kernel's
// exact compiler, emulated on an amd64 host for arm64, has compiled them.
// Cold, the emulated compile of the running build dominates arm64's time
// and no change to create can remove it: run-pre needs the kernel's own
// compiler's code.
func BenchmarkCreatePerObject(b *testing.B) {
	kmodSrc, err := FindKmodSrc(os.Getenv("KSPLICE_KMOD_SRC"))
	if err != nil {
		b.Skip(err)
	}
	// Both create and the floor compile: a compile cache hit would make
	// either a copy (BenchmarkCreateCCache measures the cache).
	b.Setenv("KSPLICE_CCACHE", "0")
	type measured struct{ create, floor, cached float64 } // ms per object
	results := map[string]map[string]measured{}           // series -> arch -> per object
	n := float64(len(perObjectObjs))
	for _, spec := range labtest.Kernels() {
		_, release, _ := strings.Cut(spec, ":")
		b.Run(release, func(b *testing.B) {
			k := labtest.KernelFor(b, spec)
			dir := b.TempDir()
			create := func() *Result {
				p, err := srcpatch.ParseFile(perObjectPatch)
				if err != nil {
					b.Fatal(err)
				}
				res, err := Create(context.Background(), Options{Kernel: k, Patch: p, PatchName: perObjectPatch, ID: "bench",
					Output: filepath.Join(dir, "bench.tar"), KmodSrc: kmodSrc})
				if err != nil {
					b.Fatal(err)
				}
				if got := len(res.Plan.Objects); got != len(perObjectObjs) {
					b.Fatalf("create changed %d objects, want %d", got, len(perObjectObjs))
				}
				return res
			}
			create() // warm: engine built, post tree prepared and patched
			floor := compileFloor(b, k, perObjectObjs)

			b.ResetTimer()
			var total time.Duration
			stages := map[string]int64{}
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				removePre(b, k, perObjectObjs)
				b.StartTimer()
				start := time.Now()
				res := create()
				total += time.Since(start)
				for _, st := range res.Stages {
					stages[st.Name] += st.Millis
				}
			}
			b.StopTimer()
			// The compile cache on: one create fills it, the next is
			// timed.
			b.Setenv("KSPLICE_CCACHE", "")
			var cached time.Duration
			for i := 0; i < 2; i++ {
				removePre(b, k, perObjectObjs)
				start := time.Now()
				create()
				cached = time.Since(start)
			}
			b.Setenv("KSPLICE_CCACHE", "0")
			runs := float64(b.N)
			for name, ms := range stages {
				b.ReportMetric(float64(ms)/runs/n, name+"-ms/obj")
			}
			m := measured{create: total.Seconds() * 1000 / runs / n, floor: floor.Seconds() * 1000 / n,
				cached: cached.Seconds() * 1000 / n}
			b.ReportMetric(m.cached, "create-cached-ms/obj")
			b.ReportMetric(m.create, "create-ms/obj")
			b.ReportMetric(m.floor, "floor-ms/obj")
			b.ReportMetric(m.create/m.floor, "create/floor")
			series := seriesOf(k.Release)
			if results[series] == nil {
				results[series] = map[string]measured{}
			}
			results[series][k.Arch] = m
		})
	}
	for series, byArch := range results {
		amd, okA := byArch["amd64"]
		arm, okB := byArch["arm64"]
		if !okA || !okB {
			continue
		}
		b.Run(fmt.Sprintf("arm64-vs-amd64-%s", series), func(b *testing.B) {
			b.ReportMetric(arm.create/amd.create, "arm64/amd64-create")
			b.ReportMetric(arm.cached/amd.cached, "arm64/amd64-create-cached")
			b.ReportMetric(arm.floor/amd.floor, "arm64/amd64-floor")
			b.ReportMetric((arm.create-arm.floor)/(amd.create-amd.floor), "arm64/amd64-overhead")
		})
	}
}

// compileFloor compiles objs from scratch in the trees create uses, before
// the patch (the kernel's build tree) and after it (the post workspace,
// patched by a create before), under the kernel's lock.
func compileFloor(b *testing.B, k *kbuild.Kernel, objs []string) time.Duration {
	b.Helper()
	unlock, err := k.Lock(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer unlock()
	w := newWorkspace(k, "post", kernelTree(k))
	var floor time.Duration
	for _, t := range []kbuild.Tree{w.preTree(), w.postTree()} {
		if err := t.Remove(objs); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := t.BuildObjects(context.Background(), objs, nil); err != nil {
			b.Fatal(err)
		}
		floor += time.Since(start)
	}
	return floor
}

// removePre removes the pre-patch objects from the kernel's build tree,
// so that the next create compiles them again.
func removePre(b *testing.B, k *kbuild.Kernel, objs []string) {
	b.Helper()
	unlock, err := k.Lock(nil)
	if err != nil {
		b.Fatal(err)
	}
	defer unlock()
	if err := newWorkspace(k, "post", kernelTree(k)).preTree().Remove(objs); err != nil {
		b.Fatal(err)
	}
}

// seriesOf returns the MAJOR.MINOR of a release: "6.12" of
// "6.12.117+deb12-arm64".
func seriesOf(release string) string {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return release
	}
	return parts[0] + "." + strings.TrimFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
}
