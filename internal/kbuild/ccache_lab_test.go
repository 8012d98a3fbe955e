package kbuild_test

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/run"
)

// TestCCacheIdentical builds objects of a Debian kernel in a fresh O= tree
// three times: without the compile cache, through it on an empty cache
// (misses, which store), and through it again (hits), and requires the
// three builds to be byte-identical files, and the third to have been
// served by the cache. An object differing anywhere (debug information
// included) would fail, not only in the sections elfdiff compares.
func TestCCacheIdentical(t *testing.T) {
	k := labtest.Kernel(t)
	cc := ""
	for _, v := range k.MakeVars {
		if s, ok := strings.CutPrefix(v, "CC="); ok {
			cc = s
		}
	}
	if _, err := os.Stat(filepath.Join(kbuild.CCacheLinks, cc)); err != nil {
		t.Fatalf("no ccache link for %s (make deps installs ccache): %v", cc, err)
	}
	cfg, err := os.ReadFile(filepath.Join(k.Build, ".config"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cache := t.TempDir()
	t.Setenv("KSPLICE_CCACHE_DIR", cache)
	tree := kbuild.Tree{Source: k.Source, Build: t.TempDir(), MakeVars: k.MakeVars}
	t.Setenv("KSPLICE_CCACHE", "0")
	if err := tree.Prepare(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	// A small object, one with WARN_ON's __FILE__ and many functions, and
	// one of a module (-DMODULE, KBUILD_MODNAME).
	objs := []string{"fs/proc/cmdline.o", "kernel/sys.o", "drivers/net/dummy.o", "arch/x86/pci/fixup.o"}
	build := func(what string) map[string][]byte {
		t.Helper()
		if err := tree.Remove(objs); err != nil {
			t.Fatal(err)
		}
		built, err := tree.BuildObjects(ctx, objs, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		res := map[string][]byte{}
		for _, o := range built {
			b, err := os.ReadFile(o.Path)
			if err != nil {
				t.Fatal(err)
			}
			res[o.Rel] = b
		}
		return res
	}
	plain := build("without ccache")
	t.Setenv("KSPLICE_CCACHE", "")
	cold := build("cold cache")
	before := ccacheStats(t, cache)
	warm := build("warm cache")
	after := ccacheStats(t, cache)
	hits := after["direct_cache_hit"] + after["preprocessed_cache_hit"] - before["direct_cache_hit"] - before["preprocessed_cache_hit"]
	if hits < len(objs) {
		t.Errorf("warm build: %d cache hits, want %d (stats after: %v)", hits, len(objs), after)
	}
	for _, rel := range objs {
		for name, got := range map[string][]byte{"cold cache": cold[rel], "warm cache": warm[rel]} {
			if !bytes.Equal(got, plain[rel]) {
				t.Errorf("%s built through the %s differs from the build without it: %s", rel, name, sectionDiff(plain[rel], got))
			}
		}
	}
	t.Logf("%d objects identical without ccache, on a cold and on a warm cache (%d hits)", len(objs), hits)
}

func ccacheStats(t *testing.T, dir string) map[string]int {
	t.Helper()
	c := run.New("ccache", "--print-stats")
	c.Env = []string{"CCACHE_DIR=" + dir}
	out, err := c.Output(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "\t"); ok {
			m[k], _ = strconv.Atoi(v)
		}
	}
	return m
}

// sectionDiff names the sections in which two objects differ.
func sectionDiff(a, b []byte) string {
	fa, err := elf.NewFile(bytes.NewReader(a))
	if err != nil {
		return err.Error()
	}
	fb, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return err.Error()
	}
	var diff []string
	for _, s := range fa.Sections {
		o := fb.Section(s.Name)
		if o == nil {
			diff = append(diff, s.Name+" (missing)")
			continue
		}
		da, _ := s.Data()
		db, _ := o.Data()
		if !bytes.Equal(da, db) {
			diff = append(diff, s.Name)
		}
	}
	return fmt.Sprintf("%d bytes vs %d, sections %v", len(a), len(b), diff)
}
