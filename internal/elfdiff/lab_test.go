package elfdiff_test

import (
	"context"
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
)

// realCase is a patch of testdata/patches and what a kernel engineer reading
// it expects of the object it touches.
type realCase struct {
	patch    string
	object   string
	carry    []string // exactly these functions
	noise    bool     // some functions are unchanged-noise
	refusals []string // "symbol:rule"
}

var realCases = []realCase{
	{patch: "proc-cmdline-string.diff", object: "fs/proc/cmdline.o", carry: []string{"cmdline_proc_show"}},
	{patch: "tcp-rcvlowat-body.diff", object: "net/ipv4/tcp.o", carry: []string{"tcp_set_rcvlowat"}},
	{patch: "sys-line-shift.diff", object: "kernel/sys.o", carry: []string{}, noise: true},
	{patch: "sys-data-overflowuid.diff", object: "kernel/sys.o", carry: []string{}, refusals: []string{"overflowuid:data-changed"}},
}

// realPairs builds, once, the pre and post objects of every real case in a
// scratch copy of the lab's prepared tree (the cache is only read): the
// source is hard-linked, a patched file is replaced, never written in place.
var realPairs = struct {
	sync.Once
	pre  map[string]string // object -> pre path
	post map[string]string // patch -> post path
	err  error
	out  string
}{}

func buildRealPairs(t testing.TB) {
	k := labtest.Kernel(t)
	realPairs.Do(func() {
		realPairs.pre, realPairs.post = map[string]string{}, map[string]string{}
		// One fixed scratch directory, replaced on each run, so that runs do
		// not pile up copies of the tree.
		scratch := filepath.Join(os.TempDir(), "ksplice-elfdiff-lab")
		if realPairs.err = os.RemoveAll(scratch); realPairs.err != nil {
			return
		}
		if realPairs.err = os.MkdirAll(filepath.Join(scratch, "post"), 0o755); realPairs.err != nil {
			return
		}
		run := func(name string, args ...string) error {
			out, err := exec.Command(name, args...).CombinedOutput()
			if err != nil {
				realPairs.out = string(out)
			}
			return err
		}
		// The kernel's build tree is shared: a create of another
		// process builds in it under the kernel's lock, and a copy
		// made then would catch make's temporary files.
		copyBuild := func(dst string) error {
			unlock, err := k.Lock(nil)
			if err != nil {
				return err
			}
			defer unlock()
			return run("cp", "-a", k.Build, dst)
		}
		src := filepath.Join(scratch, "src")
		if realPairs.err = run("cp", "-al", k.Source, src); realPairs.err != nil {
			return
		}
		var objs []string
		for _, c := range realCases {
			if !slices.Contains(objs, c.object) {
				objs = append(objs, c.object)
			}
		}
		ctx := context.Background()
		pre := filepath.Join(scratch, "pre")
		if realPairs.err = copyBuild(pre); realPairs.err != nil {
			return
		}
		start := time.Now()
		built, err := kbuild.Tree{Source: k.Source, Build: pre, MakeVars: k.MakeVars}.BuildObjects(ctx, objs, nil)
		if err != nil {
			realPairs.err = err
			return
		}
		t.Logf("built %d pre objects in %v", len(built), time.Since(start))
		for _, o := range built {
			realPairs.pre[o.Rel] = o.Path
		}
		for i, c := range realCases {
			post := filepath.Join(scratch, "post", strings.TrimSuffix(c.patch, ".diff"))
			if realPairs.err = copyBuild(post); realPairs.err != nil {
				return
			}
			file := strings.TrimSuffix(c.object, ".o") + ".c"
			dst := filepath.Join(src, file)
			if realPairs.err = run("cp", "--remove-destination", filepath.Join(k.Source, file), dst); realPairs.err != nil {
				return
			}
			patch, _ := filepath.Abs(filepath.Join("../../testdata/patches", c.patch))
			if realPairs.err = run("patch", "-s", "-p1", "-d", src, "-i", patch); realPairs.err != nil {
				return
			}
			start := time.Now()
			built, err := kbuild.Tree{Source: src, Build: post, MakeVars: k.MakeVars}.BuildObjects(ctx, []string{c.object}, nil)
			if err != nil {
				realPairs.err = err
				return
			}
			t.Logf("built post %s in %v", c.object, time.Since(start))
			realPairs.post[realCases[i].patch] = built[0].Path
			if realPairs.err = run("cp", "--remove-destination", filepath.Join(k.Source, file), dst); realPairs.err != nil {
				return
			}
		}
	})
	if realPairs.err != nil {
		t.Fatalf("building real objects: %v\n%s", realPairs.err, realPairs.out)
	}
}

// TestRealKernelObjects diffs real Debian 6.1 objects built before and after
// the patches of testdata/patches (KSPLICE_LAB=1).
func TestRealKernelObjects(t *testing.T) {
	buildRealPairs(t)
	for _, c := range realCases {
		t.Run(c.patch, func(t *testing.T) {
			pre, err := elfdiff.Open(realPairs.pre[c.object])
			if err != nil {
				t.Fatal(err)
			}
			post, err := elfdiff.Open(realPairs.post[c.patch])
			if err != nil {
				t.Fatal(err)
			}
			res, err := elfdiff.Diff(pre, post)
			if err != nil {
				t.Fatal(err)
			}
			noise := 0
			for _, fd := range res.Functions {
				if fd.Status != elfdiff.StatusUnchanged {
					t.Logf("%s %s %s %q", fd.Status, fd.Name, fd.Section, fd.Reasons)
				}
				if fd.Status == elfdiff.StatusNoise {
					noise++
				}
			}
			for _, dd := range res.Data {
				if dd.Status != elfdiff.StatusUnchanged {
					t.Logf("data %s %s %q", dd.Status, dd.Name, dd.Reasons)
				}
			}
			if !slices.Equal(res.Carry.Functions, c.carry) {
				t.Errorf("carried functions %q, want %q", res.Carry.Functions, c.carry)
			}
			if c.noise && noise == 0 {
				t.Errorf("no unchanged-noise function")
			}
			var rules []string
			for _, r := range res.Refusals {
				rules = append(rules, r.Symbol+":"+string(r.Rule))
				t.Logf("refused: %s [%s] %s", r.Symbol, r.Rule, r.Reason)
			}
			if !slices.Equal(rules, c.refusals) {
				t.Errorf("refusals %q, want %q", rules, c.refusals)
			}
		})
	}
}

// BenchmarkDiffTCP diffs net/ipv4/tcp.o before and after a body-only fix,
// loading both objects included (KSPLICE_LAB=1). Target: well under 100 ms.
func BenchmarkDiffTCP(b *testing.B) {
	buildRealPairs(b)
	pre, post := realPairs.pre["net/ipv4/tcp.o"], realPairs.post["tcp-rcvlowat-body.diff"]
	b.ReportAllocs()
	for b.Loop() {
		a, err := elfdiff.Open(pre)
		if err != nil {
			b.Fatal(err)
		}
		c, err := elfdiff.Open(post)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := elfdiff.Diff(a, c); err != nil {
			b.Fatal(err)
		}
	}
}
