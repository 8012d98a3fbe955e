package create

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// planPatch reads a patch of testdata/patches against k's tree and plans
// its objects (no header's includers).
func planPatch(t *testing.T, k *kbuild.Kernel, name string) (*srcpatch.Patch, *Plan) {
	t.Helper()
	p, err := srcpatch.ParseFile("../../testdata/patches/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Resolve(k.Source); err != nil {
		t.Fatal(err)
	}
	pl, err := plan(p.Changes, func(string) ([]string, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	return p, pl
}

func TestBuildPairsCmdline(t *testing.T) {
	k := labtest.Kernel(t)
	p, pl := planPatch(t, k, "proc-cmdline-string.diff")
	dir := t.TempDir()
	timed := func(name string, fn func() error) error {
		start := time.Now()
		err := fn()
		t.Logf("%s: %v", name, time.Since(start))
		return err
	}
	pairs, err := buildPairs(context.Background(), k, p, nil, pl.Objects, pl.Goals, nil, dir, "", &kbuild.CompilerPlan{Running: k.Compiler, Section: k.Compiler}, os.Stderr, timed)
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 1 || pairs[0].Rel != "fs/proc/cmdline.o" || pairs[0].Target != "vmlinux" {
		t.Fatalf("pairs = %+v", pairs)
	}
	pre, err := elfdiff.Open(pairs[0].Pre)
	if err != nil {
		t.Fatal(err)
	}
	post, err := elfdiff.Open(pairs[0].Post)
	if err != nil {
		t.Fatal(err)
	}
	res, err := elfdiff.Diff(pre, post)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range res.Functions {
		t.Logf("%s %s %v", fd.Name, fd.Status, fd.Reasons)
	}
	if got := res.Carry.Functions; len(got) != 1 || got[0] != "cmdline_proc_show" {
		t.Errorf("carried functions = %v, want [cmdline_proc_show]", got)
	}
	// The third build, with the kernel's own flags: one .text, and the
	// same functions.
	if pairs[0].Running == "" {
		t.Fatal("no running object")
	}
	running, err := elfdiff.Open(pairs[0].Running)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.UseRunning(running); err != nil {
		t.Fatal(err)
	}
	if len(res.RunningMissing) != 0 {
		t.Errorf("functions without a running counterpart: %v", res.RunningMissing)
	}
	for _, fn := range running.Functions {
		if !fn.Section.Init() && fn.Section.Name != ".text" {
			t.Errorf("%s is in %s of the running object, want .text (built without section flags)", fn.Name, fn.Section.Name)
		}
	}
	// The pristine tree is untouched.
	b, _ := os.ReadFile(k.Source + "/fs/proc/cmdline.c")
	if string(b) == "" || strings.Contains(string(b), "ksplice=patched") {
		t.Error("pristine source was modified")
	}
}

// TestBuildPairsInitSections: init/'s Makefile turns function sections
// off for its objects; ksplice's builds of them still have one section a
// function (so init/main.c's fixes can be compared), the running build
// none, as the kernel was built.
func TestBuildPairsInitSections(t *testing.T) {
	k := labtest.Kernel(t)
	p, pl := planPatch(t, k, "init-main-sections.diff")
	pairs, err := buildPairs(context.Background(), k, p, nil, pl.Objects, pl.Goals, nil, t.TempDir(), "", &kbuild.CompilerPlan{Running: k.Compiler, Section: k.Compiler}, os.Stderr,
		func(_ string, fn func() error) error { return fn() })
	if err != nil {
		t.Fatal(err)
	}
	if len(pairs) != 1 || pairs[0].Rel != "init/main.o" {
		t.Fatalf("pairs = %+v", pairs)
	}
	res, err := diffPair(pairs[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Carry.Functions; !slices.Equal(got, []string{"try_to_run_init_process"}) {
		t.Errorf("carried functions = %v, want [try_to_run_init_process] (refusals %+v)", got, res.Refusals)
	}
	pre, err := elfdiff.Open(pairs[0].Pre)
	if err != nil {
		t.Fatal(err)
	}
	// gcc may put it in .text.unlikely (a cold function): then
	// .text.unlikely.try_to_run_init_process with function sections.
	for _, fn := range pre.Functions {
		if fn.Name == "try_to_run_init_process" && !strings.HasSuffix(fn.Section.Name, ".try_to_run_init_process") {
			t.Errorf("%s is in %s of the section build, not a section of its own", fn.Name, fn.Section.Name)
		}
	}
	running, err := elfdiff.Open(pairs[0].Running)
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range running.Functions {
		if fn.Name == "try_to_run_init_process" && fn.Section.Name != ".text" && fn.Section.Name != ".text.unlikely" {
			t.Errorf("%s is in %s of the running build, want .text or .text.unlikely (no sections, as the kernel was built)", fn.Name, fn.Section.Name)
		}
	}
}
