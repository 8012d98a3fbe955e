package create

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/run"
	"github.com/ksplice-go/ksplice/internal/tudiff"
)

// scanFlags make the preprocessed text of a unit independent of where
// its lines are and of how many __COUNTER__ values came before: a header
// that grows moves every later line, and an inline that takes a unique
// name renames every later one. Neither changes code: __COUNTER__ only
// makes names, and __LINE__ values are the lines WARN, BUG and messages
// report, which elfdiff counts as noise too (StatusNoise).
const scanFlags = "-D__COUNTER__=0 -D__LINE__=0"

// scanBatch is how many objects are preprocessed at once: each
// preprocessed unit of net/ takes 5 MB on disk, and each make run a
// second of Kbuild start-up. A variable for the tests of the scan's limit.
var scanBatch = 64

// ScanCache keeps the verdicts of scanned objects for the creates of one
// run (create --upgrade-to), keyed by the object and the contents of the
// changed headers after the patch: an object whose own source did not
// change preprocesses the same with the same headers, whichever .c files
// the patch also changes. Safe for concurrent use.
type ScanCache struct {
	mu sync.Mutex
	m  map[string]scanVerdict
}

type scanVerdict struct {
	affected bool
	reason   string
	// relaid is the type whose layout, measured by probes before and
	// after, differs where the unit's code uses it, when that is why
	// it is affected.
	relaid string
}

// NewScanCache returns an empty cache.
func NewScanCache() *ScanCache { return &ScanCache{m: map[string]scanVerdict{}} }

func (c *ScanCache) get(key string) (scanVerdict, bool) {
	if c == nil {
		return scanVerdict{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, ok
}

func (c *ScanCache) put(key string, v scanVerdict) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = v
}

// scanResult is what the scan of the objects a changed header reaches
// found.
type scanResult struct {
	affected []string          // objects whose code may change
	reasons  map[string]string // object -> why it may, or why not
	relaid   map[string]string // affected object -> the type it uses laid out otherwise
	// unscanned is how many objects were left unscanned when more
	// than the scan's limit were found that may change.
	unscanned int
}

// scanIncluders tells, of objs (objects that include a changed header
// and whose own source did not change), which ones the patch may change
// the code of: each is preprocessed before (pre) and after (post) the
// patch, and tudiff compares what its code uses. An object that does not
// preprocess on either side counts as changed (its build will say why).
// A structure whose definition changed is checked by compiling a probe of
// it both ways (its layout as its users see it).
//
// store, if not nil, keeps the pre side's units from one scan to the
// next: those it has are not preprocessed again.
//
// limit, if above 0, stops the scan after the batch that finds more than
// limit objects that may change: over the budget, the rest cannot save
// the update (its verdicts so far are kept in cache).
func scanIncluders(ctx context.Context, pre, post kbuild.Tree, all []string, cache *ScanCache, headersKey string, store *unitStore, limit int, log io.Writer) (*scanResult, error) {
	res := &scanResult{reasons: map[string]string{}, relaid: map[string]string{}}
	add := func(o string, v scanVerdict) {
		res.reasons[o] = v.reason
		if v.affected {
			res.affected = append(res.affected, o)
		}
		if v.relaid != "" {
			res.relaid[o] = v.relaid
		}
	}
	var objs []string
	for _, o := range all {
		if v, ok := cache.get(headersKey + o); ok {
			add(o, v)
			continue
		}
		objs = append(objs, o)
	}
	if n := len(all) - len(objs); n > 0 {
		fmt.Fprintf(log, "create: %d of the %d objects that include a changed header were scanned with the same headers before\n", n, len(all))
	}
	probes := newLayoutProbes(pre, post)
	// The next batch is preprocessed while this one is compared.
	type batch struct {
		objs        []string
		preI, postI map[string]string
		stored      map[string]bool // pre units in the store, not preprocessed
	}
	batches := make(chan *batch, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var producer sync.WaitGroup
	producer.Go(func() {
		defer close(batches)
		for start := 0; start < len(objs); start += scanBatch {
			b := &batch{objs: objs[start:min(start+scanBatch, len(objs))], preI: map[string]string{}, stored: map[string]bool{}}
			var need []string
			for _, o := range b.objs {
				if store.has(o) {
					b.stored[o] = true
				} else {
					need = append(need, o)
				}
			}
			var wg sync.WaitGroup
			// A unit that fails is missing from its map (and
			// counts as changed): make's error adds nothing.
			if len(need) > 0 {
				wg.Go(func() { b.preI, _ = pre.Preprocess(ctx, need, scanFlags) })
			}
			wg.Go(func() { b.postI, _ = post.Preprocess(ctx, b.objs, scanFlags) })
			wg.Wait()
			select {
			case batches <- b:
			case <-ctx.Done():
				removeUnits(b.preI, b.postI)
				return
			}
		}
	})
	defer func() {
		cancel()
		for b := range batches { // what the producer made after a failure
			removeUnits(b.preI, b.postI)
		}
		producer.Wait()
	}()
	done, stored := 0, 0
	for b := range batches {
		stored += len(b.stored)
		if ctx.Err() != nil {
			removeUnits(b.preI, b.postI)
			return nil, ctx.Err()
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		work := make(chan string)
		var firstErr error
		for range runtime.GOMAXPROCS(0) {
			wg.Go(func() {
				for o := range work {
					v, err := compareStored(pre, o, b.preI[o], b.postI[o], store, probes)
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = fmt.Errorf("%s: %w", o, err)
					}
					add(o, v)
					if err == nil {
						cache.put(headersKey+o, v)
					}
					mu.Unlock()
				}
			})
		}
		for _, o := range b.objs {
			why := ""
			switch {
			case b.preI[o] == "" && !b.stored[o]:
				why = "does not preprocess before the patch (its build says why)"
			case b.postI[o] == "":
				why = "does not preprocess after the patch (its build says why)"
			default:
				work <- o
				continue
			}
			mu.Lock() // the workers write too
			add(o, scanVerdict{affected: true, reason: why})
			mu.Unlock()
		}
		close(work)
		wg.Wait()
		removeUnits(b.preI, b.postI)
		if firstErr != nil {
			return nil, firstErr
		}
		store.trim(unitStoreBudget)
		done += len(b.objs)
		fmt.Fprintf(log, "create: scanned %d of %d objects that include a changed header: %d may change\n", done, len(objs), len(res.affected))
		if limit > 0 && len(res.affected) > limit && done < len(objs) {
			res.unscanned = len(objs) - done
			fmt.Fprintf(log, "create: more than %d may change, over the budget: the other %d are not scanned\n", limit, res.unscanned)
			break
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if n := len(objs); n > 0 && store != nil {
		fmt.Fprintf(log, "create: %d of the %d objects scanned were preprocessed before the patch by an earlier scan\n", stored, n)
	}
	sort.Strings(res.affected)
	return res, nil
}

func removeUnits(maps ...map[string]string) {
	for _, m := range maps {
		for _, p := range m {
			os.Remove(p)
		}
	}
}

// compareStored compares obj's two preprocessed units: the pre one at
// preI, just made (and then stored), or, if preI is "", from the store.
func compareStored(pre kbuild.Tree, obj, preI, postI string, store *unitStore, probes *layoutProbes) (scanVerdict, error) {
	var a []byte
	var err error
	if preI != "" {
		if a, err = os.ReadFile(preI); err != nil {
			return scanVerdict{}, err
		}
		store.put(obj, a)
	} else {
		if a, err = store.get(obj); err != nil {
			// Gone or damaged: counted as changed, as a unit
			// that does not preprocess is.
			return scanVerdict{affected: true, reason: fmt.Sprintf("its unit from an earlier scan could not be read (%v)", err)}, nil
		}
		// Where Kbuild's record of how it was made is, for probes.
		preI = filepath.Join(pre.Build, strings.TrimSuffix(obj, ".o")+".i")
	}
	b, err := os.ReadFile(postI)
	if err != nil {
		return scanVerdict{}, err
	}
	return compareUnit(a, b, preI, postI, probes)
}

// compareUnit compares an object's two preprocessed units, a made at
// preI and b at postI.
func compareUnit(a, b []byte, preI, postI string, probes *layoutProbes) (scanVerdict, error) {
	pu, err := tudiff.Parse(a)
	if err != nil {
		return scanVerdict{affected: true, reason: err.Error()}, nil
	}
	qu, err := tudiff.Parse(b)
	if err != nil {
		return scanVerdict{affected: true, reason: err.Error()}, nil
	}
	measured := map[string]bool{} // types the probes laid out otherwise
	res, err := tudiff.Compare(pu, qu, tudiff.Options{Layout: func(agg string) (tudiff.Layout, error) {
		l, known, err := probes.compare(agg, pu, qu, preI, postI)
		if known && !l.Same {
			measured[agg] = true
		}
		return l, err
	}})
	if err != nil {
		return scanVerdict{}, err
	}
	v := scanVerdict{affected: res.Affected, reason: res.Reason}
	if res.Relaid != "" && measured[res.Relaid] {
		v.relaid = res.Relaid
	}
	return v, nil
}

func newLayoutProbes(pre, post kbuild.Tree) *layoutProbes {
	return &layoutProbes{memo: map[string]probeAnswer{}, pre: pre, post: post}
}

// layoutProbes compile a type's declarations before and after a patch
// and compare its layouts; the answer is kept for the same declarations.
type layoutProbes struct {
	mu        sync.Mutex
	memo      map[string]probeAnswer
	pre, post kbuild.Tree
}

// probeAnswer: the layouts compared, and known, if both probes compiled
// and were read.
type probeAnswer struct {
	layout tudiff.Layout
	known  bool
}

// compare compiles probes of aggregate from each unit's declarations and
// compares the layouts their users see. known is false when a probe did
// not compile or could not be read: not the same, as far as anyone can
// tell.
func (p *layoutProbes) compare(aggregate string, pu, qu *tudiff.Unit, preI, postI string) (l tudiff.Layout, known bool, err error) {
	kind, name, _ := strings.Cut(aggregate, " ")
	a, b := pu.Extract(name), qu.Extract(name)
	// The same declarations compiled with other target flags (a 32-bit
	// vDSO's) may lay out otherwise: the flags are part of the key.
	flags := [2]string{}
	for i, side := range []struct {
		t kbuild.Tree
		i string
	}{{p.pre, preI}, {p.post, postI}} {
		cmd, err := probeCommand(side.t, side.i)
		if err != nil {
			return tudiff.Layout{}, false, nil
		}
		flags[i] = targetFlags(cmd)
	}
	key := fmt.Sprintf("%x", sha256.Sum256([]byte(aggregate+"\x00"+a+"\x00"+b+"\x00"+flags[0]+"\x00"+flags[1])))
	p.mu.Lock()
	defer p.mu.Unlock()
	if a, ok := p.memo[key]; ok {
		return a.layout, a.known, nil
	}
	dir, err := os.MkdirTemp("", "ksplice-probe-")
	if err != nil {
		return tudiff.Layout{}, false, err
	}
	defer os.RemoveAll(dir)
	// The array's length is the type's alignment, which DWARF records
	// only when an attribute asks for one (packed lowers it too).
	probe := fmt.Sprintf("%s %s __ksplice_layout_probe;\nchar __ksplice_layout_align[_Alignof(%s %s)];\n", kind, name, kind, name)
	var layouts [2]*userLayout
	for i, side := range []struct {
		t    kbuild.Tree
		i    string
		text string
	}{{p.pre, preI, a}, {p.post, postI, b}} {
		src := filepath.Join(dir, fmt.Sprintf("probe%d.i", i))
		obj := filepath.Join(dir, fmt.Sprintf("probe%d.o", i))
		if err := os.WriteFile(src, []byte(side.text+probe), 0o644); err != nil {
			return tudiff.Layout{}, false, err
		}
		if err := compileProbe(side.t, side.i, src, obj); err != nil {
			// Not the same, as far as anyone can tell: the
			// object is rebuilt, and its build decides.
			p.memo[key] = probeAnswer{}
			return tudiff.Layout{}, false, nil
		}
		if layouts[i], err = readUserLayout(obj, aggregate); err != nil {
			p.memo[key] = probeAnswer{}
			return tudiff.Layout{}, false, nil
		}
	}
	l.Retyped, l.Same = compareForUsers(layouts[0], layouts[1])
	p.memo[key] = probeAnswer{layout: l, known: true}
	return l, true, nil
}

// cmdDrop are the words of a preprocessing command that a compilation
// of preprocessed text must not have.
var cmdDrop = regexp.MustCompile(` -E | -D__COUNTER__=0 | -D__LINE__=0 | -Wp,-MMD,\S+ | -o \S+ `)

// probeCommand is Kbuild's record of how the unit at unitI was
// preprocessed.
func probeCommand(t kbuild.Tree, unitI string) (string, error) {
	rel, err := filepath.Rel(t.Build, unitI)
	if err != nil {
		return "", err
	}
	return kbuild.ReadCmd(t.Build, rel)
}

// targetFlags are the words of a compiler command that are not about one
// file: no include paths, per-object defines, or dependency files.
func targetFlags(cmd string) string {
	var keep []string
	f := strings.Fields(cmd)
	for i := 0; i < len(f); i++ {
		w := f[i]
		switch {
		case w == "-I" || w == "-include" || w == "-o":
			i++
		case strings.HasPrefix(w, "-I"), strings.HasPrefix(w, "-DKBUILD_"), strings.HasPrefix(w, "-D__KBUILD_"),
			strings.HasPrefix(w, "-Wp,"), strings.HasPrefix(w, "-fmacro-prefix-map="), !strings.HasPrefix(w, "-"):
		default:
			keep = append(keep, w)
		}
	}
	return strings.Join(keep, " ")
}

// compileProbe compiles src, preprocessed C, with the flags the unit at
// unitI was preprocessed with (Kbuild's record of it), for its debug
// information.
func compileProbe(t kbuild.Tree, unitI, src, obj string) error {
	cmd, err := probeCommand(t, unitI)
	if err != nil {
		return err
	}
	cmd = " " + cmd + " "
	for { // matches share their spaces: until none is left
		next := cmdDrop.ReplaceAllString(cmd, " ")
		if next == cmd {
			break
		}
		cmd = next
	}
	f := strings.Fields(cmd)
	if len(f) < 2 {
		return errors.New("no compiler command")
	}
	// The last word is the source file.
	cmd = strings.Join(f[:len(f)-1], " ") + " -x cpp-output -c -g -O0 -w -o " + obj + " " + src
	c := run.New("sh", "-c", cmd)
	c.Dir = t.Build
	return c.Run(context.Background())
}
