package create

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/patchgen"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
	"github.com/ksplice-go/ksplice/internal/testutil"
	"github.com/ksplice-go/ksplice/internal/update"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

func TestPlan(t *testing.T) {
	ch := func(paths ...string) []srcpatch.Change {
		var cs []srcpatch.Change
		for _, p := range paths {
			cs = append(cs, srcpatch.Change{Old: p, New: p})
		}
		return cs
	}
	users := func(h string) ([]string, error) {
		if h == "fs/proc/internal.h" {
			return []string{"fs/proc/array.c", "fs/proc/base.c"}, nil
		}
		return nil, nil
	}
	p, err := plan(ch("fs/proc/cmdline.c", "Documentation/x.rst"), users)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.Objects, " ") != "fs/proc/cmdline.o" || strings.Join(p.Ignored, " ") != "Documentation/x.rst" {
		t.Errorf("plan = %+v", p)
	}
	p, err = plan(ch("fs/proc/internal.h"), users)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.Objects, " ") != "fs/proc/array.o fs/proc/base.o" {
		t.Errorf("header users = %v", p.Objects)
	}
	for _, tc := range []struct {
		changes []srcpatch.Change
		want    string
	}{
		{ch("arch/x86/lib/memcpy_64.S"), "assembly"},
		{ch("include/linux/unused.h"), "changes no compiled code"},
		{ch("fs/proc/Makefile"), "build configuration"},
		{ch("Documentation/x.rst"), "changes no compiled code"},
		{[]srcpatch.Change{{New: "fs/proc/new.c"}}, "new file"},
		{[]srcpatch.Change{{Old: "fs/proc/cmdline.c"}}, "deleted"},
	} {
		_, err := plan(tc.changes, users)
		if !errors.Is(err, verdict.ErrRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("plan(%v) = %v, want refusal mentioning %q", tc.changes, err, tc.want)
		}
	}
}

func TestDeriveIDAndSubject(t *testing.T) {
	for _, name := range []string{"0001-proc-Fix-the-thing.patch", "CVE-2026-1234.diff", "---.diff", strings.Repeat("x", 80) + ".diff"} {
		id := deriveID(name, []byte("x"))
		if !update.ValidID(id) {
			t.Errorf("deriveID(%q) = %q, not a valid id", name, id)
		}
	}
	if id := deriveID("0001-proc-Fix.patch", []byte("x")); !strings.HasPrefix(id, "0001_proc_fix_") {
		t.Errorf("deriveID = %q", id)
	}
	raw := []byte("From: x\nSubject: [PATCH v2 3/7] proc: fix it\n\ndiff --git a/x b/x\n")
	if s := subject(raw, "f.diff"); s != "proc: fix it" {
		t.Errorf("subject = %q", s)
	}
	if s := subject([]byte("--- a/x\n+++ b/x\n"), "dir/f.diff"); s != "f.diff" {
		t.Errorf("subject without header = %q", s)
	}
}

func TestIncluders(t *testing.T) {
	tree := t.TempDir()
	files := map[string]string{
		"include/linux/a.h":        "#include <linux/b.h>\n",
		"include/linux/b.h":        "static inline int b(void) { return 1; }\n",
		"include/uapi/linux/u.h":   "#define U 1\n",
		"arch/x86/include/asm/x.h": "#include <linux/a.h>\n",
		"fs/p/local.h":             "#include <asm/x.h>\n",
		"fs/p/one.c":               "#include \"local.h\"\n",
		"fs/p/two.c":               "  #  include <linux/b.h>\n",
		"fs/q/three.c":             "#include \"../p/local.h\"\n",
		"fs/q/four.c":              "#include <linux/u.h>\n#include \"inner.c\"\n",
		"fs/q/inner.c":             "#include <linux/b.h>\n",
		"fs/q/none.c":              "#include <linux/other.h>\n",
		"Documentation/x.c":        "#include <linux/b.h>\n",
	}
	for name, text := range files {
		os.MkdirAll(filepath.Join(tree, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(tree, name), []byte(text), 0o644)
	}
	idx, err := indexIncludes(tree)
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]string{
		"include/linux/b.h":      "fs/p/one.c fs/p/two.c fs/q/four.c fs/q/inner.c fs/q/three.c",
		"fs/p/local.h":           "fs/p/one.c fs/q/three.c",
		"include/uapi/linux/u.h": "fs/q/four.c",
	} {
		if got := strings.Join(idx.includers(h, "x86"), " "); got != want {
			t.Errorf("includers(%s) = %s, want %s", h, got, want)
		}
	}
	// The index is kept, and read back the same.
	cache := t.TempDir()
	first, err := loadIncludeIndex(cache, tree)
	if err != nil {
		t.Fatal(err)
	}
	again, err := loadIncludeIndex(cache, t.TempDir()) // an empty tree: must come from the cache
	if err != nil || len(again) != len(first) || len(again) == 0 {
		t.Errorf("cached index: %d spellings (%v), want %d", len(again), err, len(first))
	}
}

func TestCheckCompiler(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "x.c")
	os.WriteFile(src, []byte("int x(void) { return 1; }\n"), 0o644)
	obj := filepath.Join(dir, "x.o")
	if out, err := exec.Command("gcc", "-c", src, "-o", obj).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v: %s", err, out)
	}
	version, err := exec.Command("gcc", "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	// "gcc (Debian 12.2.0-14+deb12u1) 12.2.0": the kernel records the
	// program name it was built with, the object only the rest.
	_, host, _ := strings.Cut(strings.SplitN(string(version), "\n", 2)[0], " ")
	pairs := []Pair{{Rel: "x.o", Pre: obj, Post: obj}}
	exact := func(k *kbuild.Kernel) *kbuild.CompilerPlan {
		return &kbuild.CompilerPlan{Running: k.Compiler, Section: k.Compiler}
	}
	same := &kbuild.Kernel{Compiler: "gcc-12 " + host}
	if w, err := checkCompiler(same, exact(same), pairs, false); err != nil || w != "" {
		t.Errorf("same compiler: %q, %v", w, err)
	}
	other := &kbuild.Kernel{Compiler: "gcc-11 (Debian 11.3.0-12) 11.3.0"}
	_, err = checkCompiler(other, exact(other), pairs, false)
	if !errors.Is(err, ErrCompiler) || !errors.Is(err, verdict.ErrRefused) || !strings.Contains(err.Error(), "11.3.0") || !strings.Contains(err.Error(), host) {
		t.Errorf("other compiler: err = %v, want a refusal naming both", err)
	}
	if w, err := checkCompiler(other, exact(other), pairs, true); err != nil || !strings.Contains(w, "--force-compiler") {
		t.Errorf("forced: %q, %v; want a warning", w, err)
	}
	// The split: section builds by another compiler than the kernel's
	// (the host's here) pass; a running build by it does not.
	split := &kbuild.CompilerPlan{Running: other.Compiler, Section: "cross-gcc " + host, Cross: true}
	if w, err := checkCompiler(other, split, pairs, false); err != nil || w != "" {
		t.Errorf("split, section builds by the cross compiler: %q, %v", w, err)
	}
	withRunning := []Pair{{Rel: "x.o", Pre: obj, Post: obj, Running: obj}}
	if _, err := checkCompiler(other, split, withRunning, false); !errors.Is(err, ErrCompiler) {
		t.Errorf("split, running build not by the kernel's compiler: err = %v, want ErrCompiler", err)
	}
}

// TestAllowDataNeedsHooks: --allow-data alone would leave the running
// kernel with the old value, so it is refused before anything is built.
func TestAllowDataNeedsHooks(t *testing.T) {
	_, err := Create(t.Context(), Options{AllowData: []string{"overflowuid"}})
	if !errors.Is(err, verdict.ErrRefused) {
		t.Fatalf("Create with --allow-data and no --hooks: %v, want a refusal", err)
	}
	for _, want := range []string{"overflowuid", "--hooks"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q lacks %q", err, want)
		}
	}
}

func TestChooseHookTarget(t *testing.T) {
	objs := func(ts ...string) map[string][]patchgen.Object {
		m := map[string][]patchgen.Object{}
		for _, t := range ts {
			m[t] = nil
		}
		return m
	}
	for _, c := range []struct {
		targets []string
		data    map[string]bool
		want    string
	}{
		{[]string{"vmlinux", "ext4"}, nil, "vmlinux"},
		{[]string{"ext4"}, nil, "ext4"},
		{nil, map[string]bool{"vmlinux": true}, "vmlinux"},
		{[]string{"ext4", "xfs"}, nil, ""},
		{nil, nil, ""},
	} {
		got, err := chooseHookTarget(objs(c.targets...), c.data)
		if got != c.want || (err == nil) != (c.want != "") {
			t.Errorf("chooseHookTarget(%v, %v) = %q, %v; want %q", c.targets, c.data, got, err, c.want)
		}
	}
}

func TestRefusedErrorUnwrapsPerRule(t *testing.T) {
	err := error(&RefusedError{Refusals: []Refusal{
		{Object: "a.o", Refusal: elfdiff.Refusal{Symbol: "x", Rule: elfdiff.RuleDataChanged, Reason: "initializer of x changed"},
			Hint: "or write hooks that set it"},
		{Object: "b.o", Refusal: elfdiff.Refusal{Symbol: "f", Rule: elfdiff.RuleInit, Reason: "f is __init"}},
	}})
	for _, want := range []error{verdict.ErrRefused, elfdiff.ErrDataChanged, elfdiff.ErrInit} {
		if !errors.Is(err, want) {
			t.Errorf("errors.Is(err, %v) = false", want)
		}
	}
	if errors.Is(err, elfdiff.ErrNoFtraceSite) {
		t.Error("errors.Is(err, ErrNoFtraceSite) = true for an update with no no-ftrace-site refusal")
	}
	msg := err.Error()
	for _, sub := range []string{"a.o: x (data-changed): initializer of x changed (or write hooks that set it)", "b.o: f (init): f is __init"} {
		if !strings.Contains(msg, sub) {
			t.Errorf("message %q lacks %q", msg, sub)
		}
	}
}

func TestClockRecordsStagesInOrder(t *testing.T) {
	var log strings.Builder
	c := clock{log: &log}
	boom := errors.New("boom")
	if err := c.time("plan", func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := c.time("", func() error { return c.time("build-pre", func() error { return boom }) }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the stage's own error", err)
	}
	var names []string
	for _, s := range c.stages {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "plan,build-pre" {
		t.Errorf("stages %v, want plan,build-pre (a stage named \"\" times only its parts)", names)
	}
	if !strings.Contains(log.String(), stageTitle["build-pre"]) {
		t.Errorf("log %q does not say what build-pre does", log.String())
	}
	for _, st := range (&creation{}).stages() {
		if _, ok := stageTitle[st.name]; st.name != "" && !ok {
			t.Errorf("stage %s has no title", st.name)
		}
	}
}

// TestUpdateExports: an update module may call the kernel's exports and the
// engine's (ksplice_shadow_*), and nothing else through the module loader.
func TestUpdateExports(t *testing.T) {
	headers, engine := t.TempDir(), t.TempDir()
	write := func(dir, content string) {
		if err := os.WriteFile(filepath.Join(dir, "Module.symvers"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(headers, "0x1\tseq_puts\tvmlinux\tEXPORT_SYMBOL\t\n")
	write(engine, "0x2\tksplice_shadow_get\t/tmp/kmod/ksplice\tEXPORT_SYMBOL_GPL\t\n")
	got, err := updateExports(headers, engine)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"seq_puts": true, "ksplice_shadow_get": true, "saved_command_line": false} {
		if got[name] != want {
			t.Errorf("exported[%s] = %v, want %v", name, got[name], want)
		}
	}
	if _, err := updateExports(headers, t.TempDir()); err == nil {
		t.Error("no error without the engine's Module.symvers")
	}
}

// TestCopyAuthorHeaders: the fixed include directory ends up holding
// exactly the author headers, and an unchanged header is not rewritten
// (Kbuild would rebuild what includes it).
func TestCopyAuthorHeaders(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	for name, body := range map[string]string{"ksplice-patch.h": "a", "kpatch-macros.h": "b", "README": "c"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dst, "stale.h"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := copyAuthorHeaders(src, dst); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(dst, "ksplice-patch.h"), old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := copyAuthorHeaders(src, dst); err != nil {
		t.Fatal(err)
	}
	got, _ := filepath.Glob(filepath.Join(dst, "*"))
	for i := range got {
		got[i] = filepath.Base(got[i])
	}
	if want := []string{"kpatch-macros.h", "ksplice-patch.h"}; !slices.Equal(got, want) {
		t.Errorf("include directory holds %v, want %v", got, want)
	}
	if fi, err := os.Stat(filepath.Join(dst, "ksplice-patch.h")); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("unchanged header rewritten: %v", err)
	}
}

// TestAuthoredWarnings: KPATCH_FORCE_UNSAFE is reported as not honoured,
// and what the IGNORE macros left out is said.
func TestAuthoredWarnings(t *testing.T) {
	var log strings.Builder
	c := &creation{o: Options{Log: &log}, res: &Result{}}
	c.authored("fs/proc/base.o", &elfdiff.Authored{Forced: []string{"proc_pid_status"},
		IgnoredFunctions: []string{"proc_oom_score"}, IgnoredSections: []string{".text.unlikely"}})
	if len(c.res.Warnings) != 1 || !strings.Contains(c.res.Warnings[0], "KPATCH_FORCE_UNSAFE(proc_pid_status) is not honoured") {
		t.Errorf("warnings %q", c.res.Warnings)
	}
	for _, want := range []string{"proc_oom_score left out", "section .text.unlikely left out"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	c.authored("fs/proc/base.o", nil)
}

// TestKeepExports: a fix that exports the function it changes and drops
// another's export is refused export-changed, with a hint naming
// --keep-exports; with it, the function is carried and each export change
// is a warning (testdata/elfdiff/exportfix).
func TestKeepExports(t *testing.T) {
	testutil.MainMake("../../testdata/elfdiff")
	pair := Pair{
		Rel: "drivers/base/exportfix.o", Target: "vmlinux",
		Pre:  "../../testdata/elfdiff/x86_64/exportfix.orig.o",
		Post: "../../testdata/elfdiff/x86_64/exportfix.patched.o",
	}
	for _, keep := range []bool{false, true} {
		var log strings.Builder
		c := &creation{o: Options{Log: &log, KeepExports: keep}, res: &Result{Diffs: map[string]*elfdiff.Result{}},
			plan: &Plan{Objects: []string{pair.Rel}}, pairs: []Pair{pair}}
		err := c.diff(context.Background())
		if !keep {
			var re *RefusedError
			if !errors.As(err, &re) || len(re.Refusals) != 2 {
				t.Fatalf("without --keep-exports: %v, want two export-changed refusals", err)
			}
			for _, r := range re.Refusals {
				if r.Rule != elfdiff.RuleExportChanged || !strings.Contains(r.Hint, "--keep-exports") {
					t.Errorf("refusal %+v", r)
				}
			}
			continue
		}
		if err != nil {
			t.Fatalf("with --keep-exports: %v", err)
		}
		objs := c.byTarget["vmlinux"]
		if len(objs) != 1 || !slices.Equal(objs[0].Result.Carry.Functions, []string{"probe_warn"}) {
			t.Errorf("carried %+v, want probe_warn", objs)
		}
		want := []string{"adds EXPORT_SYMBOL(probe_warn)", "removes EXPORT_SYMBOL(mbox_map)"}
		for _, w := range want {
			if !slices.ContainsFunc(c.res.Warnings, func(s string) bool { return strings.Contains(s, w) && strings.Contains(s, "exports stay as they are") }) {
				t.Errorf("no warning says %q: %q", w, c.res.Warnings)
			}
		}
	}
}
