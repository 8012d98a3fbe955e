package upgrade

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/delta"
	"github.com/ksplice-go/ksplice/internal/elfdiff"
	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/patchgen"
	"github.com/ksplice-go/ksplice/internal/update"
)

func TestMakeGroups(t *testing.T) {
	files := []delta.File{
		{Change: delta.Change{Path: "kernel/sys.c", Status: delta.Modified}, Class: delta.Built, Object: "kernel/sys.o", Headers: []string{"include/linux/h.h"}},
		{Change: delta.Change{Path: "kernel/sched/rt.c", Status: delta.Modified}, Class: delta.Built, Object: "kernel/sched/build_policy.o", Via: "kernel/sched/build_policy.c"},
		{Change: delta.Change{Path: "kernel/sched/deadline.c", Status: delta.Modified}, Class: delta.Built, Object: "kernel/sched/build_policy.o", Via: "kernel/sched/build_policy.c", Headers: []string{"kernel/sched/sched.h"}},
		{Change: delta.Change{Path: "include/linux/h.h", Status: delta.Modified}, Class: delta.Header, Includers: 3},
		{Change: delta.Change{Path: "include/linux/nobody.h", Status: delta.Modified}, Class: delta.Header},
		{Change: delta.Change{Path: "arch/arm64/x.c", Status: delta.Modified}, Class: delta.NotBuilt},
		{Change: delta.Change{Path: "fs/a/sys.c", Status: delta.Modified}, Class: delta.Built, Object: "fs/a/sys.o"},
		{Change: delta.Change{Path: "fs/b/a/sys.c", Status: delta.Modified}, Class: delta.Built, Object: "fs/b/a/sys.o"},
	}
	gs := MakeGroups(files)
	var got []string
	for _, g := range gs {
		got = append(got, fmt.Sprintf("%s=%s[%s]%s", g.ID, g.Kind, strings.Join(g.Files, " "), strings.Join(g.Headers, " ")))
	}
	want := []string{
		"kernel_sys=c[kernel/sys.c]include/linux/h.h",
		// Two .c files #included by one object go together.
		"sched_rt=c[kernel/sched/rt.c kernel/sched/deadline.c]kernel/sched/sched.h",
		"linux_h_h=header[include/linux/h.h]",
		"a_sys=c[fs/a/sys.c]",
		"a_sys2=c[fs/b/a/sys.c]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("groups:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, g := range gs {
		if !update.ValidID(g.ID) {
			t.Errorf("id %q is not a valid update id", g.ID)
		}
	}
}

// TestSortError puts each kind of create failure in its category.
func TestSortError(t *testing.T) {
	refusal := func(rules ...elfdiff.Rule) error {
		e := &create.RefusedError{}
		for _, r := range rules {
			e.Refusals = append(e.Refusals, create.Refusal{Object: "x.o", Refusal: elfdiff.Refusal{Rule: r, Symbol: "s", Reason: "r"}})
		}
		return e
	}
	for _, c := range []struct {
		err  error
		cat  Category
		rule string
	}{
		{refusal(elfdiff.RuleDataChanged), Refused, "data-changed"},
		{refusal(elfdiff.RuleInit, elfdiff.RuleInitData), InitOnly, "init,init-data"},
		{refusal(elfdiff.RuleInit, elfdiff.RuleDataChanged), Refused, "init,data-changed"},
		// Init code and code that runs after boot: not "nothing to do".
		{&create.RefusedError{Refusals: refusal(elfdiff.RuleInit).(*create.RefusedError).Refusals,
			Changed: []string{"kernel/trace/trace.o: trace_module_notify"}}, Refused, "init"},
		{fmt.Errorf("x: %w", create.ErrNoChanges), BuildOnly, RuleNoChange},
		{fmt.Errorf("x: %w", create.ErrTooManyObjects), Refused, RuleMaxObjects},
		{&kbuild.BuildError{Targets: []string{"x.o"}, Err: fmt.Errorf("exit status 2")}, Refused, RuleBuildError},
		{fmt.Errorf("%w: x.o: not built by this kernel's configuration; nothing to update", create.ErrNoChanges), BuildOnly, RuleNoChange},
		{fmt.Errorf("x: %w: adds f", patchgen.ErrNothingReplaced), Refused, RuleNothingReplaced},
		{fmt.Errorf("boom"), Refused, RuleError},
	} {
		oc := sortError(Outcome{}, c.err)
		if oc.Category != c.cat || oc.Rule != c.rule {
			t.Errorf("%v: %s %s, want %s %s", c.err, oc.Category, oc.Rule, c.cat, c.rule)
		}
		if oc.Category == Refused && oc.Rule != RuleError && oc.Hint == "" && c.rule != "refused" {
			t.Errorf("%v: refused with no hint", c.err)
		}
	}
}

// fakeCreate answers like create: a patch that touches a .c file of
// "refuse" fails the elfdiff way, one of "nobuild" does not compile
// unless it carries a header, others carry one function per .c file.
type fakeCreate struct {
	mu    sync.Mutex
	calls []string
	// patches are the last patch of each update id.
	patches map[string]string
	// stopped are the creates BeforeScan stopped.
	stopped []string
	// slow, if set, is how long the create of ocaller.c with its
	// header takes; the create of oimpl1.c with it waits that long for
	// BeforeScan to stop it, as a create waiting for the kernel's lock.
	slow time.Duration
}

var patchFile = regexp.MustCompile(`(?m)^\+\+\+ b/(\S+)`)

func (f *fakeCreate) create(_ context.Context, o create.Options) (*create.Result, error) {
	files := []string{}
	for _, m := range patchFile.FindAllStringSubmatch(string(o.Patch.Raw), -1) {
		files = append(files, m[1])
	}
	f.mu.Lock()
	f.calls = append(f.calls, o.ID+":"+strings.Join(files, ","))
	if f.patches == nil {
		f.patches = map[string]string{}
	}
	f.patches[o.ID] = string(o.Patch.Raw)
	f.mu.Unlock()
	hasHeader := false
	for _, p := range files {
		hasHeader = hasHeader || strings.HasSuffix(p, ".h")
	}
	// ops.h changes the signature of a function pointer that ocaller.c
	// calls and oimpl1.c and oimpl2.c implement (6.1.190's
	// syn_recv_sock): none builds without the header, and with it the
	// old text of each of the others does not.
	if strings.Contains(strings.Join(files, " "), "kernel/o") {
		if f.slow > 0 && hasHeader && len(files) == 2 {
			switch files[0] {
			case "kernel/ocaller.c":
				time.Sleep(f.slow)
			case "kernel/oimpl1.c":
				for end := time.Now().Add(4 * f.slow); time.Now().Before(end); time.Sleep(f.slow / 20) {
					if err := o.BeforeScan(); err != nil {
						f.mu.Lock()
						f.stopped = append(f.stopped, o.ID)
						f.mu.Unlock()
						return nil, err
					}
				}
			}
		}
		for _, p := range files {
			if strings.HasPrefix(p, "kernel/o") && !hasHeader {
				return nil, &kbuild.BuildError{Targets: []string{"x.o"}, Output: p + ":3:9: error: too many arguments to function 'o->recv'", Err: fmt.Errorf("exit status 2")}
			}
		}
		for _, p := range []string{"kernel/ocaller.c", "kernel/oimpl1.c", "kernel/oimpl2.c"} {
			if !slices.Contains(files, p) {
				return nil, &kbuild.BuildError{Targets: []string{"x.o"}, Output: "In file included from /cache/source/" + p + ":2:\n/cache/source/" + p + ":7:12: error: initialization of 'int (*)(int,  int)' from incompatible pointer type", Err: fmt.Errorf("exit status 2")}
			}
		}
	}
	// yops.h changes a signature that ycaller.c calls and yimpl.c
	// implements; yimpl.c's diff also holds another fix, which needs a
	// new member of yproto.h's struct yctx, refused (6.1.190's
	// mptcp/subflow.c). The diagnostics are where gcc puts them in the
	// text the patch makes.
	if all := string(o.Patch.Raw); strings.Contains(all, "kernel/ycaller.c") || strings.Contains(all, "kernel/yimpl.c") {
		ops, proto := slices.Contains(files, "include/net/yops.h"), slices.Contains(files, "include/net/yproto.h")
		sig := strings.Contains(all, "+static int yr(int a, int b)")
		reset := strings.Contains(all, "+\tc->resetting = 1;")
		const src = "/k/post/src/"
		var errs []string
		if slices.Contains(files, "kernel/ycaller.c") && !ops {
			errs = append(errs, src+"kernel/ycaller.c:3:9: error: too many arguments to function 'o->recv'")
		}
		if reset && !proto {
			errs = append(errs, src+"kernel/yimpl.c:14:10: error: 'struct yctx' has no member named 'resetting'")
		}
		if ops != sig {
			line := 18 // o->recv = yr;
			if reset {
				line++
			}
			errs = append(errs, fmt.Sprintf("%skernel/yimpl.c: In function 'yinit':\n%skernel/yimpl.c:%d:17: error: assignment to 'int (*)(int,  int)' from incompatible pointer type 'int (*)(int)'", src, src, line))
		}
		switch {
		case len(errs) > 0:
			return nil, &kbuild.BuildError{Targets: []string{"x.o"}, Output: strings.Join(errs, "\n"), Err: fmt.Errorf("exit status 2")}
		case proto:
			return nil, &create.RefusedError{Refusals: []create.Refusal{{Object: "kernel/yimpl.o", Refusal: elfdiff.Refusal{Rule: elfdiff.RuleStructLayout, Symbol: "struct yctx", Reason: "the layout of struct yctx changes"}}}}
		case slices.Contains(files, "kernel/ycaller.c") && !slices.Contains(files, "kernel/ydef.c"):
			// ycaller.c's new code calls ydef.c's new ynew()
			// (6.1.190's inet_csk_prepare_for_destroy_sock(),
			// out of line in inet_connection_sock.c).
			return nil, fmt.Errorf("%w: the new code refers to ynew, which only the patched kernel/ydef.c defines", create.ErrMissingSymbol)
		}
	}
	// xops.h changes a signature that xcaller.c calls and ximpl.c
	// implements, as ops.h; but the two together are refused, and
	// ximpl.c alone, without the header, is carried.
	if all := strings.Join(files, " "); strings.Contains(all, "kernel/xcaller.c") {
		switch {
		case !hasHeader:
			return nil, &kbuild.BuildError{Targets: []string{"x.o"}, Output: "kernel/xcaller.c:3:9: error: too many arguments to function 'o->recv'", Err: fmt.Errorf("exit status 2")}
		case !strings.Contains(all, "kernel/ximpl.c"):
			return nil, &kbuild.BuildError{Targets: []string{"x.o"}, Output: "/cache/source/kernel/ximpl.c:7:12: error: initialization of 'int (*)(int,  int)' from incompatible pointer type", Err: fmt.Errorf("exit status 2")}
		default:
			return nil, &create.RefusedError{Refusals: []create.Refusal{{Object: "kernel/ximpl.o", Refusal: elfdiff.Refusal{Rule: elfdiff.RuleDataChanged, Symbol: "xtable", Reason: "changed"}}}}
		}
	}
	// initmain.c needs a macro of attrs.h, which every object
	// includes; its own change is init code, bigfix.c's is not.
	for _, p := range files {
		switch {
		case (p == "kernel/initmain.c" || p == "kernel/bigfix.c") && !hasHeader:
			return nil, &kbuild.BuildError{Targets: []string{"x.o"}, Output: p + ":3:1: error: expected ';' before 'void'", Err: fmt.Errorf("exit status 2")}
		case p == "kernel/initmain.c" && o.OwnObjectsOnly:
			return nil, &create.RefusedError{Refusals: []create.Refusal{{Object: "kernel/initmain.o", Refusal: elfdiff.Refusal{Rule: elfdiff.RuleInit, Symbol: "start_kernel", Reason: "start_kernel is __init"}}}}
		case p == "kernel/bigfix.c" && o.OwnObjectsOnly:
			return nil, create.ErrOwnObjectsOnly
		case p == "kernel/initmain.c" || p == "kernel/bigfix.c":
			return nil, fmt.Errorf("%w: the patch reaches 12381 objects", create.ErrTooManyObjects)
		}
	}
	joined := strings.Contains(strings.Join(files, " "), "helper") && strings.Contains(strings.Join(files, " "), "user")
	qjoined := strings.Contains(strings.Join(files, " "), "qsched") && strings.Contains(strings.Join(files, " "), "qgeneric")
	var fns []update.Function
	for _, p := range files {
		switch {
		// helper.c defines what user.c calls: alone, one replaces
		// nothing that runs and the other does not link.
		case strings.Contains(p, "helper") && !joined:
			return nil, fmt.Errorf("%w: in vmlinux it only adds new_helper, which no running code calls", patchgen.ErrNothingReplaced)
		case strings.Contains(p, "user") && !joined:
			return nil, fmt.Errorf("modpost: \"new_helper\" [ksplice_x.ko] undefined")
		// qsched.c's fix takes the address of a static that
		// qgeneric.c's makes global (sch_api.c and sch_generic.c).
		case strings.Contains(p, "qsched") && !qjoined:
			return nil, fmt.Errorf("%w: the new code refers to qdisc_free_rcu, which only the patched include/q.h declares and no file of the kernel's source names", create.ErrMissingSymbol)
		case strings.Contains(p, "refuse"):
			return nil, &create.RefusedError{Refusals: []create.Refusal{{Object: "r.o", Refusal: elfdiff.Refusal{Rule: elfdiff.RuleDataChanged, Symbol: "v", Reason: "changed"}}}}
		case strings.Contains(p, "nobuild") && !hasHeader:
			return nil, &kbuild.BuildError{Targets: []string{p}, Err: fmt.Errorf("exit status 2")}
		case strings.HasSuffix(p, ".c"):
			obj := strings.TrimSuffix(p, ".c") + ".o"
			fns = append(fns, update.Function{Name: "f_" + filepath.Base(strings.TrimSuffix(p, ".c")), Object: obj, Status: "changed"})
		}
	}
	if len(fns) == 0 {
		return nil, fmt.Errorf("%w (x.o)", create.ErrNoChanges)
	}
	m := &update.Manifest{ID: o.ID, Upgrade: o.Upgrade, Targets: []update.Target{{Name: "vmlinux", Functions: fns}}}
	b, _ := json.Marshal(m)
	if err := os.WriteFile(o.Output, b, 0o644); err != nil {
		return nil, err
	}
	return &create.Result{ID: o.ID, Output: o.Output, Manifest: m, Plan: &create.Plan{Objects: []string{"x.o"}}}, nil
}

func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestRun makes the updates of a synthetic delta: every changed file in
// exactly one category, the report's numbers as the files say, a .c file
// that needs its header retried with it, the cumulative update carrying
// every carried change, and a second run made from the cache.
// synthetic returns the options of a run on a small synthetic delta, with
// a fake create.
func synthetic(t *testing.T) (Options, *fakeCreate) {
	t.Helper()
	old := tree(t, map[string]string{
		"kernel/good.c": "a\n", "kernel/refuse.c": "a\n", "kernel/nobuild.c": "a\n", "kernel/same.c": "x\n",
		"include/linux/h.h": "a\n", "arch/arm64/x.c": "a\n", "Documentation/d.rst": "a\n", "kernel/nochange.c": "a\n",
	})
	new := tree(t, map[string]string{
		"kernel/good.c": "b\n", "kernel/refuse.c": "b\n", "kernel/nobuild.c": "b\n", "kernel/same.c": "x\n",
		"include/linux/h.h": "b\n", "arch/arm64/x.c": "b\n", "Documentation/d.rst": "b\n", "kernel/nochange.c": "b\n",
	})
	built := map[string]string{"kernel/good.o": "", "kernel/refuse.o": "", "kernel/nobuild.o": "", "kernel/nochange.o": ""}
	cfg := &delta.Config{
		Where: func(_ context.Context, obj string) (string, error) {
			if m, ok := built[obj]; ok {
				return m, nil
			}
			return "", kbuild.ErrNotConfigured
		},
		Includers: func(f string) ([]string, error) {
			if f == "include/linux/h.h" {
				return []string{"kernel/nobuild.c", "kernel/other.c"}, nil
			}
			return nil, nil
		},
	}
	clog := filepath.Join(t.TempDir(), "changelog.Debian.gz")
	writeGz(t, clog, "linux (6.1.190-1) bookworm-security; urgency=high\n\n  * kernel: good: fix good_fn() (CVE-2026-12345)\n\n -- X <x@y>  Mon, 16 Nov 2026 11:17:40 +0100\n\nlinux (6.1.187-1) bookworm; urgency=high\n\n  * old\n\n -- X <x@y>  Mon, 16 Nov 2026 11:17:40 +0100\n")
	k := &kbuild.Kernel{Spec: "debian:6.1.0-53-amd64", Release: "6.1.0-53-amd64", Version: "6.1.187-1",
		Packages: map[string]string{"linux-source-6.1": "6.1.187-1"}, Tree: kbuild.Tree{Source: old}}
	fc := &fakeCreate{}
	cache := t.TempDir()
	opts := Options{
		Kernel: k, To: "6.1.190-1", CacheDir: cache, Output: filepath.Join(t.TempDir(), "out"), Jobs: 2,
		ToolHash: "test", Create: fc.create, Config: cfg,
		Source: func(context.Context, string) (*delta.Source, error) {
			return &delta.Source{Package: "linux-source-6.1", Version: "6.1.190-1", Tree: new, Changelog: clog}, nil
		},
		Release: func(context.Context) string { return "6.1.0-54-amd64" },
	}
	return opts, fc
}

func TestRun(t *testing.T) {
	opts, fc := synthetic(t)
	r, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Category{
		"kernel/good.c": Carried, "kernel/refuse.c": Refused, "kernel/nobuild.c": Carried, "kernel/nochange.c": Carried,
		// The header alone changes no code (the fake says so); it is
		// carried with nobuild.c, which needs it.
		"include/linux/h.h": BuildOnly, "arch/arm64/x.c": NotBuilt, "Documentation/d.rst": BuildOnly,
	}
	// nochange.c: the fake carries every .c; what matters is one category each.
	if len(r.Files) != len(want) {
		t.Fatalf("%d files in the report, want %d: %+v", len(r.Files), len(want), r.Files)
	}
	counts := map[Category]int{}
	for _, f := range r.Files {
		counts[f.Category]++
		if w, ok := want[f.Path]; !ok || w != f.Category {
			t.Errorf("%s: %s (%s %s), want %s", f.Path, f.Category, f.Rule, f.Reason, w)
		}
	}
	for c, n := range counts {
		if r.Summary.ByCategory[c] != n {
			t.Errorf("summary %s = %d, files say %d", c, r.Summary.ByCategory[c], n)
		}
	}
	if r.Summary.NeedingBuiltIn != 4 || r.Summary.CarriedBuiltIn != 3 {
		t.Errorf("built-in fraction %s, want 3 of 4", r.Summary.Fraction())
	}
	var nobuild *Outcome
	for i := range r.Updates {
		if r.Updates[i].Group.Files[0] == "kernel/nobuild.c" {
			nobuild = &r.Updates[i]
		}
	}
	if nobuild == nil || !nobuild.WithHeaders || nobuild.Category != Carried {
		t.Errorf("nobuild.c: %+v; want carried with its header", nobuild)
	}
	for _, f := range r.Files {
		if f.Path == "kernel/good.c" && (len(f.CVEs) != 1 || f.CVEs[0] != "CVE-2026-12345") {
			t.Errorf("good.c CVEs %v", f.CVEs)
		}
	}
	cu := r.Cumulative
	if cu == nil || cu.Category != Carried {
		t.Fatalf("cumulative: %+v", cu)
	}
	b, err := os.ReadFile(cu.Output)
	if err != nil {
		t.Fatal(err)
	}
	var m update.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if u := m.Upgrade; u == nil || !u.Cumulative || u.To != "6.1.190-1" || u.Release != "6.1.0-54-amd64" || u.Carried != 3 || u.Needed != 4 {
		t.Errorf("cumulative manifest upgrade %+v; want 3 of 4 files to 6.1.190-1", m.Upgrade)
	}
	for _, f := range []string{"kernel/good.c", "kernel/nobuild.c", "include/linux/h.h"} {
		if !strings.Contains(strings.Join(m.Upgrade.Files, " "), f) {
			t.Errorf("cumulative lacks %s: %v", f, m.Upgrade.Files)
		}
	}
	for _, name := range []string{"report.json", "report.html", "ksplice-kernel_good.tar"} {
		if _, err := os.Stat(filepath.Join(opts.Output, name)); err != nil {
			t.Error(err)
		}
	}

	// Again: everything comes from the cache, nothing is created.
	n := len(fc.calls)
	r2, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.calls) != n {
		t.Errorf("second run created %v", fc.calls[n:])
	}
	for _, u := range r2.Updates {
		if u.Category == Carried && !u.Cached {
			t.Errorf("%s: not from the cache", u.Group.ID)
		}
	}
	if r2.Summary.ByCategory[Carried] != r.Summary.ByCategory[Carried] {
		t.Errorf("second run carried %d, first %d", r2.Summary.ByCategory[Carried], r.Summary.ByCategory[Carried])
	}
	if _, err := os.Stat(filepath.Join(opts.Output, "ksplice-kernel_good.tar")); err != nil {
		t.Error(err)
	}
}

// TestRunWrongBase: a kernel built from another package, or already from
// the release, is refused.
func TestRunWrongBase(t *testing.T) {
	k := &kbuild.Kernel{Spec: "debian:x", Packages: map[string]string{"linux-source-6.12": "6.12.1-1"}}
	if _, err := Run(context.Background(), Options{Kernel: k, To: "6.1.190-1"}); err == nil || !strings.Contains(err.Error(), "not linux-source-6.1") {
		t.Errorf("err %v", err)
	}
	k.Packages["linux-source-6.1"] = "6.1.190-1"
	if _, err := Run(context.Background(), Options{Kernel: k, To: "6.1.190-1"}); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("err %v", err)
	}
}

// TestRunRelativeOutput: a relative -o still gives the report absolute
// paths of the tarballs, which its readers open from elsewhere (the lab
// test runs in internal/upgrade, make corpus writes corpus/ARCH).
func TestRunRelativeOutput(t *testing.T) {
	opts, _ := synthetic(t)
	t.Chdir(t.TempDir())
	opts.Output = "out"
	r, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, u := range append(r.Updates, *r.Cumulative) {
		if u.Output == "" {
			continue
		}
		n++
		if !filepath.IsAbs(u.Output) {
			t.Errorf("%s: output %s is relative", u.Group.ID, u.Output)
		} else if _, err := os.Stat(u.Output); err != nil {
			t.Error(err)
		}
	}
	if n == 0 {
		t.Fatal("no update written")
	}
}

// runDelta runs the upgrade of opts from a source tree of the files old
// to one of the files new, each file taken as built into vmlinux.
func runDelta(t *testing.T, opts Options, old, new map[string]string) *Report {
	t.Helper()
	return runDeltaIncluding(t, opts, old, new, nil)
}

// runDeltaIncluding is runDelta where includers says which changed .c
// files include each header.
func runDeltaIncluding(t *testing.T, opts Options, old, new map[string]string, includers map[string][]string) *Report {
	t.Helper()
	opts.Kernel.Source = tree(t, old)
	newTree := tree(t, new)
	src := opts.Source
	opts.Source = func(ctx context.Context, v string) (*delta.Source, error) {
		s, err := src(ctx, v)
		if err != nil {
			return nil, err
		}
		s.Tree = newTree
		return s, nil
	}
	opts.Config.Where = func(_ context.Context, obj string) (string, error) { return "", nil }
	opts.Config.Includers = func(h string) ([]string, error) { return includers[h], nil }
	r, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestJoinPartners: a fix that adds a function in one file and calls it
// from another becomes one update of both, reported for each file; a
// file whose diff only mentions the name without a call is left alone.
func TestJoinPartners(t *testing.T) {
	opts, fc := synthetic(t)
	r := runDelta(t, opts, map[string]string{
		"kernel/helper.c": "int old_helper(int x)\n{\n}\n",
		"kernel/user.c":   "void f(void)\n{\n\told_helper(1);\n}\n",
		"kernel/good.c":   "a\n",
	}, map[string]string{
		"kernel/helper.c": "int new_helper(int x)\n{\n}\n",
		"kernel/user.c":   "void f(void)\n{\n\tnew_helper(1);\n}\n",
		"kernel/good.c":   "/* new_helper */ b\n",
	})
	byPath := map[string]FileReport{}
	for _, f := range r.Files {
		byPath[f.Path] = f
	}
	for _, p := range []string{"kernel/helper.c", "kernel/user.c"} {
		if f := byPath[p]; f.Category != Carried || f.Update != "kernel_helper_joint" {
			t.Errorf("%s: %s in update %q (%s), want carried in kernel_helper_joint", p, f.Category, f.Update, f.Reason)
		}
	}
	if f := byPath["kernel/good.c"]; f.Category != Carried || f.Update != "kernel_good" {
		t.Errorf("good.c: %s in %q, want carried alone", f.Category, f.Update)
	}
	n := 0
	for _, u := range r.Updates {
		for _, f := range u.Group.Files {
			if f == "kernel/helper.c" || f == "kernel/user.c" {
				n++
			}
		}
	}
	if n != 2 {
		t.Errorf("helper.c and user.c appear %d times in the updates, want once each", n)
	}
	if !slices.Contains(fc.calls, "kernel_helper_joint:kernel/helper.c,kernel/user.c") {
		t.Errorf("no joint create among %v", fc.calls)
	}
}

// TestJoinMissingSymbol: a fix refused because its new code needs a
// function the running kernel lacks is tried again with the changed file
// whose diff defines it, and carried with it as one update.
func TestJoinMissingSymbol(t *testing.T) {
	opts, fc := synthetic(t)
	r := runDelta(t, opts, map[string]string{
		"kernel/qgeneric.c": "static void qdisc_free_rcu(int x)\n{\n}\n",
		"kernel/qsched.c":   "void f(void)\n{\n\tkfree(q);\n}\n",
	}, map[string]string{
		"kernel/qgeneric.c": "void qdisc_free_rcu(int x)\n{\n}\n",
		"kernel/qsched.c":   "void f(void)\n{\n\tcall_rcu(&q->rcu, qdisc_free_rcu);\n}\n",
	})
	for _, f := range r.Files {
		if (f.Path == "kernel/qgeneric.c" || f.Path == "kernel/qsched.c") && (f.Category != Carried || f.Update != "kernel_qsched_joint") {
			t.Errorf("%s: %s in update %q (%s), want carried in kernel_qsched_joint", f.Path, f.Category, f.Update, f.Reason)
		}
	}
	if !slices.Contains(fc.calls, "kernel_qsched_joint:kernel/qgeneric.c,kernel/qsched.c") {
		t.Errorf("no joint create among %v", fc.calls)
	}
}

// TestJoinCarriedDefiner: a file whose fix changes a function and adds
// one that another file's fix calls (6.1.190's clockevents.c and
// tick-broadcast.c): each alone is made, but the caller's update would
// link against a function the running kernel lacks, so the two are
// joined into one update, reported for each file.
func TestJoinCarriedDefiner(t *testing.T) {
	opts, fc := synthetic(t)
	r := runDelta(t, opts, map[string]string{
		"kernel/clock.c": "void exchange(int x)\n{\n\tx++;\n}\n",
		"kernel/bcast.c": "void g(void)\n{\n\texchange(1);\n}\n",
	}, map[string]string{
		"kernel/clock.c": "void __exchange(int x)\n{\n}\nvoid exchange(int x)\n{\n\t__exchange(x);\n}\n",
		"kernel/bcast.c": "void g(void)\n{\n\t__exchange(1);\n}\n",
	})
	for _, f := range r.Files {
		if (f.Path == "kernel/clock.c" || f.Path == "kernel/bcast.c") && (f.Category != Carried || f.Update != "kernel_clock_joint") {
			t.Errorf("%s: %s in update %q (%s), want carried in kernel_clock_joint", f.Path, f.Category, f.Update, f.Reason)
		}
	}
	for _, u := range r.Updates {
		if u.Group.ID == "kernel_bcast" {
			t.Errorf("bcast.c's update alone is still reported (%s)", u.Output)
		}
	}
	for _, id := range []string{"kernel_bcast", "kernel_clock"} {
		if _, err := os.Stat(filepath.Join(opts.Output, "ksplice-"+id+".tar")); err == nil {
			t.Errorf("ksplice-%s.tar, replaced by the joint update, is left in the output directory", id)
		}
	}
	if _, err := os.Stat(filepath.Join(opts.Output, "ksplice-kernel_clock_joint.tar")); err != nil {
		t.Errorf("the joint update's tarball: %v", err)
	}
	if !slices.Contains(fc.calls, "kernel_clock_joint:kernel/bcast.c,kernel/clock.c") {
		t.Errorf("no joint create among %v", fc.calls)
	}
}

// TestJoinBuildNeeds: a header change of the release that other changed
// files need their own changes to build with (a function pointer's new
// signature, its callers and implementers) makes one update of all of
// them, grown while the joint build fails in yet another changed file.
func TestJoinBuildNeeds(t *testing.T) {
	opts, fc := synthetic(t)
	old := map[string]string{
		"include/net/ops.h": "struct ops { int (*recv)(int); };\n",
		"kernel/ocaller.c":  "int f(struct ops *o)\n{\n\treturn o->recv(1);\n}\n",
		"kernel/oimpl1.c":   "static int r1(int a)\n{\n\treturn a;\n}\n",
		"kernel/oimpl2.c":   "static int r2(int a)\n{\n\treturn a;\n}\n",
		"kernel/good.c":     "a\n",
	}
	new := map[string]string{
		"include/net/ops.h": "struct ops { int (*recv)(int, int); };\n",
		"kernel/ocaller.c":  "int f(struct ops *o)\n{\n\treturn o->recv(1, 2);\n}\n",
		"kernel/oimpl1.c":   "static int r1(int a, int b)\n{\n\treturn a + b;\n}\n",
		"kernel/oimpl2.c":   "static int r2(int a, int b)\n{\n\treturn a - b;\n}\n",
		"kernel/good.c":     "b\n",
	}
	r := runDeltaIncluding(t, opts, old, new, map[string][]string{
		"include/net/ops.h": {"kernel/ocaller.c", "kernel/oimpl1.c", "kernel/oimpl2.c"},
	})
	var joint string
	for _, f := range r.Files {
		switch f.Path {
		case "kernel/ocaller.c", "kernel/oimpl1.c", "kernel/oimpl2.c":
			if f.Category != Carried || !strings.HasSuffix(f.Update, "_joint") || joint != "" && f.Update != joint {
				t.Errorf("%s: %s in update %q (%s %s), want carried in one joint update", f.Path, f.Category, f.Update, f.Rule, f.Reason)
			}
			joint = f.Update
		case "kernel/good.c":
			if f.Category != Carried || strings.HasSuffix(f.Update, "_joint") {
				t.Errorf("good.c: %s in %q, want carried alone", f.Category, f.Update)
			}
		}
	}
	if !slices.Contains(fc.calls, "kernel_ocaller_joint:kernel/ocaller.c,kernel/oimpl1.c,kernel/oimpl2.c,include/net/ops.h") {
		t.Errorf("no joint create of the three files with the header among %v", fc.calls)
	}
	n := 0
	for _, u := range r.Updates {
		if strings.HasSuffix(u.Group.ID, "_joint") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d joint updates reported, want 1", n)
	}
}

// TestJoinInPart: a joint update refused in the object of one of its
// files is made again with that file in part: the hunks of its diff that
// the others' changes cannot build without (its function's new
// signature), found from the compiler's errors, and not its other fix,
// which needs a refused layout. The file is reported refused, saying
// which part is carried where; the cumulative update carries the part.
// The update in part then needs a function a third file's fix defines:
// it takes that file in.
func TestJoinInPart(t *testing.T) {
	opts, fc := synthetic(t)
	filler := strings.Repeat("\n", 6)
	impl := func(sig, reset string) string {
		return "#include <net/yproto.h>\n" + sig + "\n{\n\treturn a;\n}\n" + filler +
			"void yreset(struct yctx *c)\n{\n" + reset + "\tc->state = 0;\n}\n" +
			"void yinit(struct yops *o)\n{\n\to->recv = yr;\n}\n"
	}
	old := map[string]string{
		"include/net/yops.h":   "struct yops { int (*recv)(int); };\n",
		"include/net/yproto.h": "struct yctx { int state; int unused:8; };\n",
		"kernel/ycaller.c":     "int f(struct yops *o)\n{\n\treturn o->recv(1);\n}\n",
		"kernel/yimpl.c":       impl("static int yr(int a)", ""),
		"kernel/ydef.c":        "int yold(void)\n{\n\treturn 0;\n}\n",
	}
	new := map[string]string{
		"include/net/yops.h":   "struct yops { int (*recv)(int, int); };\n",
		"include/net/yproto.h": "struct yctx { int state; int resetting:1, unused:7; };\n",
		"kernel/ycaller.c":     "int f(struct yops *o)\n{\n\treturn o->recv(1, 2) + ynew();\n}\n",
		"kernel/yimpl.c":       impl("static int yr(int a, int b)", "\tc->resetting = 1;\n"),
		"kernel/ydef.c":        "int yold(void)\n{\n\treturn 0;\n}\nint ynew(void)\n{\n\treturn 1;\n}\n",
	}
	// The fake's line numbers are those of this text.
	if l := strings.Split(new["kernel/yimpl.c"], "\n"); l[13] != "\tc->resetting = 1;" || l[18] != "\to->recv = yr;" {
		t.Fatalf("yimpl.c's lines moved:\n%s", new["kernel/yimpl.c"])
	}
	r := runDeltaIncluding(t, opts, old, new, map[string][]string{
		"include/net/yops.h":   {"kernel/ycaller.c", "kernel/yimpl.c"},
		"include/net/yproto.h": {"kernel/yimpl.c"},
	})
	var joint *Outcome
	for i, u := range r.Updates {
		if u.Group.Joint {
			joint = &r.Updates[i]
		}
	}
	if joint == nil || joint.Category != Carried {
		t.Fatalf("no carried joint update among %+v", r.Updates)
	}
	if !slices.Equal(joint.Group.Files, []string{"kernel/ycaller.c", "kernel/ydef.c"}) || !slices.Equal(joint.Group.Partial["kernel/yimpl.c"], []int{0}) || len(joint.Group.Partial) != 1 {
		t.Errorf("joint update carries %v, in part %v; want ycaller.c and ydef.c, which defines what it calls, and hunk 1 of yimpl.c", joint.Group.Files, joint.Group.Partial)
	}
	for _, f := range r.Files {
		switch f.Path {
		case "kernel/ycaller.c", "kernel/ydef.c":
			if f.Category != Carried || f.Update != joint.Group.ID {
				t.Errorf("%s: %s in %q", f.Path, f.Category, f.Update)
			}
		case "kernel/yimpl.c":
			if f.Category != Refused || f.Rule != string(elfdiff.RuleStructLayout) || !strings.Contains(f.Reason, "hunks 1 of its release diff) is carried in "+joint.Group.ID) {
				t.Errorf("yimpl.c: %s %s (%s), want refused struct-layout, naming the part carried", f.Category, f.Rule, f.Reason)
			}
		}
	}
	cum := fc.patches[r.Cumulative.Group.ID]
	if r.Cumulative.Category != Carried || !strings.Contains(cum, "+static int yr(int a, int b)") || strings.Contains(cum, "resetting") {
		t.Errorf("cumulative update %s; its patch:\n%s\nwant yimpl.c's new signature and not its other fix", r.Cumulative.Category, cum)
	}
}

// TestJoinDeferred: a file whose old text does not build with the
// headers another file needs is not tried alone first (one at a time,
// in path order): the joint update is made at once. When the joint
// update is refused, the file is tried alone after all, and carried if
// it can be.
func TestJoinDeferred(t *testing.T) {
	opts, fc := synthetic(t)
	opts.Jobs = 1
	old := map[string]string{
		"include/net/ops.h":  "struct ops { int (*recv)(int); };\n",
		"kernel/ocaller.c":   "int f(struct ops *o)\n{\n\treturn o->recv(1);\n}\n",
		"kernel/oimpl1.c":    "static int r1(int a)\n{\n\treturn a;\n}\n",
		"kernel/oimpl2.c":    "static int r2(int a)\n{\n\treturn a;\n}\n",
		"include/net/xops.h": "struct xops { int (*recv)(int); };\n",
		"kernel/xcaller.c":   "int g(struct xops *o)\n{\n\treturn o->recv(1);\n}\n",
		"kernel/ximpl.c":     "static int x1(int a)\n{\n\treturn a;\n}\n",
	}
	new := map[string]string{
		"include/net/ops.h":  "struct ops { int (*recv)(int, int); };\n",
		"kernel/ocaller.c":   "int f(struct ops *o)\n{\n\treturn o->recv(1, 2);\n}\n",
		"kernel/oimpl1.c":    "static int r1(int a, int b)\n{\n\treturn a + b;\n}\n",
		"kernel/oimpl2.c":    "static int r2(int a, int b)\n{\n\treturn a - b;\n}\n",
		"include/net/xops.h": "struct xops { int (*recv)(int, int); };\n",
		"kernel/xcaller.c":   "int g(struct xops *o)\n{\n\treturn o->recv(1, 2);\n}\n",
		"kernel/ximpl.c":     "static int x1(int a, int b)\n{\n\treturn a * b;\n}\n",
	}
	r := runDeltaIncluding(t, opts, old, new, map[string][]string{
		"include/net/ops.h":  {"kernel/ocaller.c", "kernel/oimpl1.c", "kernel/oimpl2.c"},
		"include/net/xops.h": {"kernel/xcaller.c", "kernel/ximpl.c"},
	})
	// ocaller.c's build names oimpl1.c (the fake names the first file
	// missing), which is left to the joint update.
	for _, c := range fc.calls {
		if id, _, _ := strings.Cut(c, ":"); id == "kernel_oimpl1" {
			t.Errorf("%s was tried alone: %s", id, c)
		}
	}
	if !slices.Contains(fc.calls, "kernel_ocaller_joint:kernel/ocaller.c,kernel/oimpl1.c,kernel/oimpl2.c,include/net/ops.h") {
		t.Errorf("no joint create of the three files with the header among %v", fc.calls)
	}
	jointAt, aloneAt := -1, -1
	for i, c := range fc.calls {
		switch c {
		case "kernel_xcaller_joint:kernel/xcaller.c,kernel/ximpl.c,include/net/xops.h":
			jointAt = i
		case "kernel_ximpl:kernel/ximpl.c":
			aloneAt = i
		}
	}
	if jointAt < 0 || aloneAt < jointAt {
		t.Errorf("ximpl.c: want the joint update tried, then ximpl.c alone; calls %v", fc.calls)
	}
	for _, f := range r.Files {
		switch f.Path {
		case "kernel/ocaller.c", "kernel/oimpl1.c", "kernel/oimpl2.c":
			if f.Category != Carried || !strings.HasSuffix(f.Update, "_joint") {
				t.Errorf("%s: %s in %q (%s), want carried in the joint update", f.Path, f.Category, f.Update, f.Reason)
			}
		case "kernel/ximpl.c":
			if f.Category != Carried || strings.HasSuffix(f.Update, "_joint") {
				t.Errorf("ximpl.c: %s in %q (%s %s), want carried alone after the joint update was refused", f.Category, f.Update, f.Rule, f.Reason)
			}
		case "kernel/xcaller.c":
			if f.Category != Refused || !strings.Contains(f.Reason, "tried with kernel/ximpl.c") {
				t.Errorf("xcaller.c: %s %s (%s), want refused, saying the joint update was tried", f.Category, f.Rule, f.Reason)
			}
		}
	}
}

// TestJoinDeferredWhileWaiting: a file named by another's failing build
// while its own create waits (for the kernel's lock, in a real run) stops
// before its scan, and goes into the joint update.
func TestJoinDeferredWhileWaiting(t *testing.T) {
	opts, fc := synthetic(t)
	opts.Jobs = 2
	fc.slow = 300 * time.Millisecond
	r := runDeltaIncluding(t, opts, map[string]string{
		"include/net/ops.h": "struct ops { int (*recv)(int); };\n",
		"kernel/ocaller.c":  "int f(struct ops *o)\n{\n\treturn o->recv(1);\n}\n",
		"kernel/oimpl1.c":   "static int r1(int a)\n{\n\treturn a;\n}\n",
		"kernel/oimpl2.c":   "static int r2(int a)\n{\n\treturn a;\n}\n",
	}, map[string]string{
		"include/net/ops.h": "struct ops { int (*recv)(int, int); };\n",
		"kernel/ocaller.c":  "int f(struct ops *o)\n{\n\treturn o->recv(1, 2);\n}\n",
		"kernel/oimpl1.c":   "static int r1(int a, int b)\n{\n\treturn a + b;\n}\n",
		"kernel/oimpl2.c":   "static int r2(int a, int b)\n{\n\treturn a - b;\n}\n",
	}, map[string][]string{"include/net/ops.h": {"kernel/ocaller.c", "kernel/oimpl1.c", "kernel/oimpl2.c"}})
	if !slices.Equal(fc.stopped, []string{"kernel_oimpl1"}) {
		t.Errorf("creates stopped before their scan: %v, want oimpl1's", fc.stopped)
	}
	for _, f := range r.Files {
		if strings.HasPrefix(f.Path, "kernel/o") && (f.Category != Carried || !strings.HasSuffix(f.Update, "_joint")) {
			t.Errorf("%s: %s in %q (%s), want carried in the joint update", f.Path, f.Category, f.Update, f.Reason)
		}
	}
}

// TestInitOnlyOwn: a fix whose headers reach more objects than the
// budget is init-only if its own objects, built with them, change only
// init code; otherwise it stays max-objects, and nothing is made of its
// objects alone.
func TestInitOnlyOwn(t *testing.T) {
	opts, _ := synthetic(t)
	r := runDeltaIncluding(t, opts, map[string]string{
		"include/linux/attrs.h": "#define __a\n",
		"kernel/initmain.c":     "void __init start_kernel(void)\n{\n}\n",
		"kernel/bigfix.c":       "void f(void)\n{\n}\n",
	}, map[string]string{
		"include/linux/attrs.h": "#define __a\n#define __no_stack_protector\n",
		"kernel/initmain.c":     "void __init __no_stack_protector start_kernel(void)\n{\n}\n",
		"kernel/bigfix.c":       "void __no_stack_protector f(void)\n{\n}\n",
	}, map[string][]string{"include/linux/attrs.h": {"kernel/initmain.c", "kernel/bigfix.c"}})
	for _, f := range r.Files {
		switch f.Path {
		case "kernel/initmain.c":
			if f.Category != InitOnly || !strings.Contains(f.Reason, "own objects compared alone") {
				t.Errorf("initmain.c: %s %s (%s), want init-only from its own objects", f.Category, f.Rule, f.Reason)
			}
		case "kernel/bigfix.c":
			if f.Category != Refused || f.Rule != RuleMaxObjects {
				t.Errorf("bigfix.c: %s %s (%s), want refused max-objects", f.Category, f.Rule, f.Reason)
			}
		}
	}
}

func TestNewFunctions(t *testing.T) {
	diff := []byte("+++ b/x.c\n+static void\n+trace_event_update_with_eval_map(struct module *mod,\n" +
		"+void trace_event_update_all(struct trace_eval_map **map, int len, struct module *mod)\n" +
		"+EXPORT_SYMBOL_GPL(trace_event_update_all);\n+\tif (x(1))\n-int gone(void)\n+static char *sanitize_field_type(const char *type)\n")
	got := strings.Join(newFunctions(diff), " ")
	if want := "trace_event_update_with_eval_map trace_event_update_all sanitize_field_type"; got != want {
		t.Errorf("newFunctions = %q, want %q", got, want)
	}
	call := callPattern([]string{"trace_event_update_all"})
	if !callsMatch([]byte("-\ttrace_insert_eval_map(mod);\n+\ttrace_event_update_all(map, len, mod);\n"), call) {
		t.Error("callsMatch missed an added call")
	}
	if callsMatch([]byte("+/* trace_event_update_all is new */\n \ttrace_event_update_all(x);\n"), call) {
		t.Error("callsMatch took a comment or a context line for a call")
	}
}

func TestVersionedABI(t *testing.T) {
	for _, c := range []struct{ release, to, want string }{
		{"6.12.111+deb12-amd64", "6.12.113-1~deb12u1", "6.12.113+deb12-amd64"},
		{"6.12.111+deb12-cloud-arm64", "6.12.117-1~deb12u1", "6.12.117+deb12-cloud-arm64"},
		{"6.12.111+deb12-amd64", "6.1.190-1", ""}, // another series
		{"6.1.0-53-amd64", "6.1.190-1", ""},       // an ABI number: asked of apt
		{"6.12.111+deb12-amd64", "not-a-version", ""},
	} {
		if got := versionedABI(c.release, c.to); got != c.want {
			t.Errorf("versionedABI(%q, %q) = %q, want %q", c.release, c.to, got, c.want)
		}
	}
}

// TestJointID: a joint update's id fits an update's (32 characters) and
// is not another group's.
func TestJointID(t *testing.T) {
	seen := map[string]int{}
	long := groupID("net/netfilter/nf_conntrack_proto_tcp.c", seen)
	groups := []Group{{ID: long}, {ID: "kernel_clock"}, {ID: "kernel_clock_joint"}}
	for _, c := range []struct{ id, want string }{
		{long, "netfilter_nf_conntrack_pr_joint"},
		{"kernel_clock", "kernel_clock_joint2"},
	} {
		got := jointID(c.id, groups)
		if got != c.want || !update.ValidID(got) {
			t.Errorf("jointID(%q) = %q (valid %v), want %q", c.id, got, update.ValidID(got), c.want)
		}
	}
}
