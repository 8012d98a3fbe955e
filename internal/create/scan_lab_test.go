package create

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// TestScanAgreesWithCompiler checks the scan of a real header change
// against the compiler: 6.1.190's include/net/dst.h change (a member made
// the first of an anonymous union, an inline changed, helpers added) on
// 6.1.0-53-amd64, which 2418 objects include. A sample of them is scanned
// and then built before and after anyway: every object the scan calls
// unaffected must compile to the same code (elfdiff: nothing changed but
// noise), and net/ipv4/ip_output.o, which inlines the changed
// dst_dev_rcu(), must be called affected.
func TestScanAgreesWithCompiler(t *testing.T) {
	k := labtest.KernelFor(t, "debian:6.1.0-53-amd64")
	ctx := context.Background()
	p, pl, _ := planHeaderPatch(t, k, "dst-dev-rcu-header.diff")
	t.Logf("%d objects built include the header", len(pl.Reached))
	if len(pl.Reached) < 1000 {
		t.Fatalf("only %d objects reached; the sample is meant to come from thousands", len(pl.Reached))
	}
	const want = "net/ipv4/ip_output.o"
	sample := []string{want}
	for i := 0; i < len(pl.Reached); i += len(pl.Reached) / 20 {
		if o := pl.Reached[i]; o != want {
			sample = append(sample, o)
		}
	}
	var scan *scanResult
	filter := func(ctx context.Context, pre, post kbuild.Tree) ([]string, error) {
		// Twice, the second time with the pre side's units from the
		// store the first one filled: the same verdicts.
		dir := t.TempDir()
		store := &unitStore{root: dir, dir: filepath.Join(dir, "key")}
		var err error
		if scan, err = scanIncluders(ctx, pre, post, sample, nil, "", store, 0, os.Stderr); err != nil {
			return nil, err
		}
		var log strings.Builder
		again, err := scanIncluders(ctx, pre, post, sample, nil, "", store, 0, io.MultiWriter(&log, os.Stderr))
		if err != nil {
			return nil, err
		}
		if w := fmt.Sprintf("%d of the %d objects scanned were preprocessed before the patch by an earlier scan", len(sample), len(sample)); !strings.Contains(log.String(), w) {
			t.Errorf("the second scan did not take every pre unit from the store: %s", log.String())
		}
		if !slices.Equal(again.affected, scan.affected) || !maps.Equal(again.reasons, scan.reasons) {
			t.Errorf("the scan with stored units says %v, without %v", again.affected, scan.affected)
		}
		// With a limit of one, in batches of 8: it stops after the
		// batch that finds the second object that may change.
		old := scanBatch
		scanBatch = 8
		defer func() { scanBatch = old }()
		limited, err := scanIncluders(ctx, pre, post, sample, nil, "", store, 1, os.Stderr)
		if err != nil {
			return nil, err
		}
		wantLeft, n := 0, 0
		for i := 0; i < len(sample); i += 8 {
			end := min(i+8, len(sample))
			for _, o := range sample[i:end] {
				if slices.Contains(scan.affected, o) {
					n++
				}
			}
			if n > 1 {
				wantLeft = len(sample) - end
				break
			}
		}
		if limited.unscanned != wantLeft {
			t.Errorf("the scan limited to 1 left %d objects unscanned, want %d", limited.unscanned, wantLeft)
		}
		for _, o := range limited.affected {
			if !slices.Contains(scan.affected, o) {
				t.Errorf("the limited scan calls %s affected, the full one does not", o)
			}
		}
		return sample, nil // all of them built, to check the verdicts
	}
	timed := func(name string, fn func() error) error {
		start := time.Now()
		err := fn()
		t.Logf("%s: %v", name, time.Since(start))
		return err
	}
	pairs, err := buildPairs(ctx, k, p, nil, sample, pl.Goals, filter, t.TempDir(), "", &kbuild.CompilerPlan{Running: k.Compiler, Section: k.Compiler}, os.Stderr, timed)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(scan.affected, want) {
		t.Errorf("%s inlines the changed dst_dev_rcu(), but the scan says: %s", want, scan.reasons[want])
	}
	changed := 0
	for _, pr := range pairs {
		what := objectChanges(t, pr)
		affected := slices.Contains(scan.affected, pr.Rel)
		if what != "" {
			changed++
		}
		switch {
		case !affected && what != "":
			t.Errorf("%s: the scan says unaffected (%s), but its code changes: %s", pr.Rel, scan.reasons[pr.Rel], what)
		case affected:
			t.Logf("%s: affected (%s); the compiler: %q", pr.Rel, scan.reasons[pr.Rel], what)
		}
	}
	t.Logf("%d objects sampled: %d called affected, %d changed by the compiler", len(pairs), len(scan.affected), changed)
}

// objectChanges says what elfdiff finds changed between a pair's objects
// (not noise), or "".
func objectChanges(t *testing.T, pr Pair) string {
	t.Helper()
	pre, err := elfdiff.Open(pr.Pre)
	if err != nil {
		t.Fatal(err)
	}
	post, err := elfdiff.Open(pr.Post)
	if err != nil {
		t.Fatal(err)
	}
	res, err := elfdiff.Diff(pre, post)
	if err != nil {
		return "diff: " + err.Error()
	}
	for _, f := range res.Functions {
		if f.Status != elfdiff.StatusUnchanged && f.Status != elfdiff.StatusNoise {
			return string(f.Status) + " function " + f.Name
		}
	}
	for _, d := range res.Data {
		if d.Status != elfdiff.StatusUnchanged && d.Status != elfdiff.StatusNoise {
			return string(d.Status) + " data " + d.Name
		}
	}
	if len(res.Refusals) > 0 {
		return "refused: " + res.Refusals[0].Symbol
	}
	return ""
}

// TestByNameAgreesWithCompiler checks the narrowing by name of a real
// header change against the compiler: 6.1.190's rename of
// rcu_momentary_dyntick_idle() in rcutree.h and rcutiny.h, which about
// 12000 objects of 6.1.0-53-amd64 include. byName must keep the objects
// that call the functions (kernel/stop_machine.o, kernel/rcu/tree.o) and
// few others; a sample of those it drops is built before and after the
// patch, and none may change.
func TestByNameAgreesWithCompiler(t *testing.T) {
	k := labtest.KernelFor(t, "debian:6.1.0-53-amd64")
	ctx := context.Background()
	p, pl, includers := planHeaderPatch(t, k, "rcu-momentary-eqs-header.diff")
	if len(pl.Reached) < 10000 {
		t.Fatalf("only %d objects reached; the headers are meant to reach about 12000", len(pl.Reached))
	}
	kept, _, err := byName(k.Source, p, pl.Headers, pl.Reached, includers, nil, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kept %d of %d: %v", len(kept), len(pl.Reached), kept)
	for _, want := range []string{"kernel/stop_machine.o", "kernel/rcu/tree.o"} {
		if !slices.Contains(kept, want) {
			t.Errorf("%s calls a renamed function, but byName dropped it", want)
		}
	}
	if len(kept) > 64 {
		t.Errorf("byName kept %d objects; only the few that name the functions should stay", len(kept))
	}
	var sample []string
	for i := 0; i < len(pl.Reached); i += len(pl.Reached) / 24 {
		if o := pl.Reached[i]; !slices.Contains(kept, o) {
			sample = append(sample, o)
		}
	}
	pairs, err := buildPairs(ctx, k, p, nil, sample, pl.Goals, nil, t.TempDir(), "", &kbuild.CompilerPlan{Running: k.Compiler, Section: k.Compiler}, os.Stderr, func(_ string, fn func() error) error { return fn() })
	if err != nil {
		t.Fatal(err)
	}
	unchangedDropped(t, pairs, sample)
}

// planHeaderPatch plans a header patch of testdata/patches on k with no
// budget, every object the headers reach in pl.Reached.
func planHeaderPatch(t *testing.T, k *kbuild.Kernel, name string) (*srcpatch.Patch, *Plan, func(string) ([]string, error)) {
	t.Helper()
	p, err := srcpatch.ParseFile("../../testdata/patches/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Resolve(k.Source); err != nil {
		t.Fatal(err)
	}
	includers := Includers(k)
	pl, err := plan(p.Changes, includers)
	if err != nil {
		t.Fatal(err)
	}
	if err := configured(context.Background(), k, nil, pl, includers, nil, 1<<20, 1<<20, os.Stderr); err != nil {
		t.Fatal(err)
	}
	return p, pl, includers
}

// TestWitnessAgreesWithCompiler checks the narrowing of real header
// changes of types against the compiler, on 6.1.0-53-amd64:
//   - 6.1.190's netdevice.h, where struct net_device's reg_state, an enum
//     bit field of 8 bits, becomes a u8 and its constants an enum of their
//     own: 4287 objects include it, over the scan's budget;
//   - 6.1.190's dst.h, where struct dst_entry's dev becomes the first
//     member of an anonymous union with dev_rcu and new accessors are
//     added (dst_dev(), a name ipv6_stubs.h gives a parameter): 2418.
//
// Planned, the includers wait for a witness (later); with one, read in
// the trees the builds are made in, byName keeps the objects that name
// what changes (net/core/dev.o, which names reg_state; ip_output.o, which
// calls dst_dev_rcu()) and few others; a sample of those it drops is
// built before and after the patch, and none may change.
func TestWitnessAgreesWithCompiler(t *testing.T) {
	k := labtest.KernelFor(t, "debian:6.1.0-53-amd64")
	for _, tc := range []struct {
		patch   string
		reached int      // at least, so that the sample is from thousands
		names   []string // among the names searched for
		kept    string   // an object that must be kept
		max     int      // at most this many kept
	}{
		{"netdevice-reg-state-header.diff", 4000, []string{"reg_state", "netdev_unregistering", "netdev_WARN"}, "net/core/dev.o", 200},
		{"dst-dev-rcu-header.diff", 2000, []string{"dev_rcu", "dst_dev_rcu", "dst_dev, ", "new, declared nowhere before the patch"}, "net/ipv4/ip_output.o", 1000},
	} {
		t.Run(strings.TrimSuffix(tc.patch, ".diff"), func(t *testing.T) {
			witnessAgrees(t, k, tc.patch, tc.reached, tc.names, tc.kept, tc.max)
		})
	}
}

func witnessAgrees(t *testing.T, k *kbuild.Kernel, patch string, reached int, names []string, mustKeep string, max int) {
	ctx := context.Background()
	p, pl, includers := planHeaderPatch(t, k, patch)
	if len(pl.Reached) < reached {
		t.Fatalf("only %d objects reached; the header is meant to reach %d or more", len(pl.Reached), reached)
	}
	if _, later, err := byName(k.Source, p, pl.Headers, pl.Reached, includers, nil, os.Stderr); err != nil || !later {
		t.Fatalf("without the trees: later = %v, %v; want its types read later", later, err)
	}
	var kept, sample []string
	filter := func(ctx context.Context, pre, post kbuild.Tree) ([]string, error) {
		var log strings.Builder
		var err error
		kept, _, err = byName(k.Source, p, pl.Headers, pl.Reached, includers, witness(ctx, pre, post, newLayoutProbes(pre, post)), io.MultiWriter(os.Stderr, &log))
		if err != nil {
			return nil, err
		}
		for _, want := range names {
			if !strings.Contains(log.String(), want) {
				t.Errorf("the search's log lacks %s:\n%s", want, log.String())
			}
		}
		for i := 0; i < len(pl.Reached); i += len(pl.Reached) / 16 {
			if o := pl.Reached[i]; !slices.Contains(kept, o) {
				sample = append(sample, o)
			}
		}
		return sample, nil
	}
	pairs, err := buildPairs(ctx, k, p, nil, pl.Reached, pl.Goals, filter, t.TempDir(), "", &kbuild.CompilerPlan{Running: k.Compiler, Section: k.Compiler}, os.Stderr, func(_ string, fn func() error) error { return fn() })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kept %d of %d", len(kept), len(pl.Reached))
	if !slices.Contains(kept, mustKeep) {
		t.Errorf("%s uses what changes, but byName dropped it", mustKeep)
	}
	if len(kept) > max {
		t.Errorf("byName kept %d objects; only those that name what changed should stay", len(kept))
	}
	unchangedDropped(t, pairs, sample)
}

// unchangedDropped checks that every sampled object byName dropped was
// built both ways (pairs) and that none of them changes.
func unchangedDropped(t *testing.T, pairs []Pair, sample []string) {
	t.Helper()
	if len(pairs) != len(sample) {
		t.Fatalf("%d pairs built of %d sampled", len(pairs), len(sample))
	}
	for _, pr := range pairs {
		if what := objectChanges(t, pr); what != "" {
			t.Errorf("%s: byName dropped it, but its code changes: %s", pr.Rel, what)
		}
	}
}
