// Package upgrade makes the updates that bring a running distribution
// kernel to a later release of its source package (create --upgrade-to):
// from the delta between the two releases (package delta) it groups the
// changes into updates, creates each (package create), in parallel and
// cached by content, adds one cumulative update that carries them all, and
// reports what became of every changed file.
package upgrade

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/delta"
	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/patchgen"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
	"github.com/ksplice-go/ksplice/internal/update"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// ErrWrongBase means the kernel was not built from a release of the
// package that --upgrade-to names, or is built from a later one.
var ErrWrongBase = fmt.Errorf("%w: the kernel is not built from an earlier release of that source package", verdict.ErrRefused)

// CreateFunc is create.Create; tests put a fake in its place.
type CreateFunc func(ctx context.Context, o create.Options) (*create.Result, error)

// Options control Run.
type Options struct {
	Kernel     *kbuild.Kernel
	To         string // the release to upgrade to: "6.1.190-1"
	CacheDir   string // see kbuild.CacheDir
	Output     string // directory for the tarballs and the report
	Jobs       int    // creates at once
	MaxObjects int    // create.Options.MaxObjects
	MaxScan    int    // create.Options.MaxScan
	KmodSrc    string
	Tool       string // "ksplice VERSION"
	// ToolHash identifies the build of ksplice, for the cache of created
	// updates: an update made by another build is made again.
	ToolHash string
	Log      io.Writer
	// Targets, when set, limits the updates tried to the changed .c files
	// built into these targets ("vmlinux", a module's name); the others,
	// and the changed headers, are reported as not tried. For measuring
	// a part of a large delta.
	Targets []string
	// Files, when set, limits the updates tried to the groups with a file
	// matching one of these patterns (path.Match: "drivers/base/*.c"), to
	// look at a few files of a large delta.
	Files []string
	// Plan only classifies and groups: no update is made.
	Plan bool
	// CachedOnly makes no update: it reports those an earlier run made
	// (with the same build of ksplice), and the others as not tried. For
	// the report of a run that was stopped.
	CachedOnly bool
	// Create is create.Create unless a test says otherwise.
	Create CreateFunc
	// Source fetches a release's source; delta.FetchSource unless a test
	// says otherwise.
	Source func(ctx context.Context, version string) (*delta.Source, error)
	// Release names the kernel release (uname -r) of the distribution's
	// kernel of version To and the kernel's flavour, or "".
	Release func(ctx context.Context) string
	// Config classifies against the kernel's configuration; built from the
	// kernel unless a test says otherwise.
	Config *delta.Config
}

// Run makes the updates and the report. Failures of single updates are in
// the report; an error means no report could be made.
func Run(ctx context.Context, o Options) (*Report, error) {
	start := time.Now()
	if o.Log == nil {
		o.Log = io.Discard
	}
	// The report names the tarballs by these paths: readers (the lab
	// test, make corpus) run elsewhere.
	out, err := filepath.Abs(o.Output)
	if err != nil {
		return nil, err
	}
	o.Output = out
	if o.Jobs <= 0 {
		o.Jobs = 1
	}
	if o.Create == nil {
		o.Create = create.Create
	}
	if o.Source == nil {
		o.Source = func(ctx context.Context, v string) (*delta.Source, error) {
			return delta.FetchSource(ctx, v, delta.FetchOptions{CacheDir: o.CacheDir, Log: o.Log})
		}
	}
	k := o.Kernel
	pkg, err := delta.SourcePackage(o.To)
	if err != nil {
		return nil, fmt.Errorf("--upgrade-to: %w", err)
	}
	from := k.Packages[pkg]
	if from == "" {
		return nil, fmt.Errorf("%w: %s is built from %s, not %s (its packages: %s)", ErrWrongBase, k.Spec, k.Version, pkg, strings.Join(mapKeys(k.Packages), ", "))
	}
	if from == o.To {
		return nil, fmt.Errorf("%w: %s is already built from %s %s", ErrWrongBase, k.Spec, pkg, from)
	}
	newSrc, err := o.Source(ctx, o.To)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "upgrade: comparing %s %s (the kernel's source) with %s\n", pkg, from, o.To)
	changes, err := delta.Diff(ctx, k.Source, newSrc.Tree)
	if err != nil {
		return nil, err
	}
	// Where the kernel's configuration builds an object of its own
	// source, and what includes a file: asked by the classification and
	// again by every create (a changed header reaches thousands of
	// objects), each answered once for the whole run.
	oldR := kbuild.NewResolver(kbuild.Tree{Source: k.Source, Build: k.Build, MakeVars: k.MakeVars}, k.SrcArch())
	defer oldR.Close()
	includers := create.Includers(k)
	cfg := o.Config
	if cfg == nil {
		newR := kbuild.NewResolver(kbuild.Tree{Source: newSrc.Tree, Build: k.Build, MakeVars: k.MakeVars}, k.SrcArch())
		defer newR.Close()
		cfg = &delta.Config{Where: oldR.Where, WhereNew: newR.Where, Includers: includers}
	}
	fmt.Fprintf(o.Log, "upgrade: %d files differ; classifying them against %s's configuration\n", len(changes), k.Spec)
	files, err := delta.Classify(ctx, changes, *cfg)
	if err != nil {
		return nil, err
	}
	r := &Report{
		Kernel: k.Spec, Release: k.Release, Package: pkg, From: from, To: o.To,
		Tool: o.Tool, Created: time.Now().UTC().Truncate(time.Second),
	}
	if entries, err := delta.ReadChangelog(newSrc.Changelog, from, o.To); err != nil {
		r.Notes = append(r.Notes, fmt.Sprintf("changelog not read: %v", err))
	} else {
		r.Changelog = entries
	}
	u := &upgrader{o: o, k: k, resolver: oldR, includers: includers, scans: create.NewScanCache(), old: k.Source, new: newSrc.Tree, report: r, up: update.Upgrade{Package: pkg, From: from, To: o.To}}
	if o.Release != nil {
		u.up.Release = o.Release(ctx)
	}
	groups := MakeGroups(files)
	u.objects = map[string]string{}
	for _, f := range files {
		u.objects[f.Path] = f.Object
	}
	u.changedC = map[string]bool{}
	for _, g := range groups {
		if g.Kind == "c" {
			for _, f := range g.Files {
				u.changedC[f] = true
			}
		}
	}
	fmt.Fprintf(o.Log, "upgrade: %s\n", summaryLine(delta.Counts(files), len(groups)))
	if err := os.MkdirAll(o.Output, 0o755); err != nil {
		return nil, err
	}
	targets := targetsOf(files)
	results := u.createAll(ctx, groups, targets, true)
	groups, results = u.joinPartners(ctx, groups, results)
	groups, results = u.retryDeferred(ctx, groups, results, targets)
	r.fill(files, groups, results)
	r.matchChangelog(func(file string) []byte { return u.diffOf(ctx, file) })
	r.summarize()
	if err := u.cumulative(ctx, groups, results); err != nil {
		r.Notes = append(r.Notes, "cumulative update: "+err.Error())
	}
	r.Seconds = time.Since(start).Seconds()
	r.summarize()
	if err := r.write(o.Output); err != nil {
		return nil, err
	}
	return r, nil
}

// Group is one update to make: the changes that go together.
type Group struct {
	ID    string   `json:"id"`
	Files []string `json:"files"` // the changed files it carries
	// Headers are the changed headers the group's .c file includes,
	// applied with it when it does not build without them.
	Headers []string `json:"headers,omitempty"`
	// Kind is "c" for a changed .c file, "header" for a changed header
	// with no changed .c file of its own.
	Kind string `json:"kind"`
	// Joint: the files of other groups that must go with it, made one
	// update (joinPartners).
	Joint bool `json:"joint,omitempty"`
	// Partial are the files a joint update carries only in part, each
	// with the hunks of its release diff it takes (from 0): what the
	// other files' changes cannot build without, where the whole of its
	// change was refused (trimJoint). The rest stays its own group's.
	Partial map[string][]int `json:"partial,omitempty"`
}

// MakeGroups decides the updates of a classified delta: one per changed .c file
// that the configuration builds (with the changed headers it includes,
// tried without them first: most fixes do not need them, and a header
// change reaches every object that includes it); one per changed .c file
// #included by the same built file, together; one per changed header
// whose includers exist, which rebuilds them all (within the budget of
// objects). Files of other classes need no update.
func MakeGroups(files []delta.File) []Group {
	var groups []Group
	byObject := map[string]int{} // a .c #included by a built one goes with its siblings
	for _, f := range files {
		switch {
		case f.Class == delta.Built:
			if i, ok := byObject[f.Object]; ok && f.Via != "" {
				groups[i].Files = append(groups[i].Files, f.Path)
				groups[i].Headers = union(groups[i].Headers, f.Headers)
				continue
			}
			byObject[f.Object] = len(groups)
			groups = append(groups, Group{Files: []string{f.Path}, Headers: f.Headers, Kind: "c"})
		case f.Class == delta.Header && f.Status != delta.Added && f.Includers > 0:
			groups = append(groups, Group{Files: []string{f.Path}, Kind: "header"})
		}
	}
	seen := map[string]int{}
	for i := range groups {
		groups[i].ID = groupID(groups[i].Files[0], seen)
	}
	return groups
}

var nonID = regexp.MustCompile(`[^a-z0-9]+`)

// groupID names a group's update from its first file: "fs/ext4/mballoc.c"
// becomes "ext4_mballoc"; a repeated name takes a number.
func groupID(file string, seen map[string]int) string {
	parts := strings.Split(strings.ToLower(strings.TrimSuffix(file, filepath.Ext(file))), "/")
	if len(parts) > 2 {
		parts = parts[len(parts)-2:]
	}
	id := strings.Trim(nonID.ReplaceAllString(strings.Join(parts, "_"), "_"), "_")
	if strings.HasSuffix(file, ".h") {
		id += "_h"
	}
	if len(id) > 28 {
		id = strings.TrimRight(id[:28], "_")
	}
	if id == "" || id[0] == '_' {
		id = "u" + id
	}
	seen[id]++
	if n := seen[id]; n > 1 {
		id = fmt.Sprintf("%s%d", id, n)
	}
	return id
}

func union(a, b []string) []string {
	out := append([]string{}, a...)
	for _, s := range b {
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func mapKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// upgrader is the state of one Run.
type upgrader struct {
	o        Options
	k        *kbuild.Kernel
	resolver *kbuild.Resolver // the kernel's, shared by the creates
	// What includes a file of the kernel's source, shared likewise.
	includers func(string) ([]string, error)
	scans     *create.ScanCache // the verdicts of header includers' scans, shared
	old, new  string
	report    *Report
	up        update.Upgrade
	mu        sync.Mutex
	diffs     map[string][]byte
	logMu     sync.Mutex // the creates' lines, one at a time
	// changedC are the changed .c files that have an update of their
	// own to make.
	changedC map[string]bool
	// objects are the objects that hold the changed files' code
	// (delta.File.Object).
	objects map[string]string
	// deferred are the groups (by ID) createAll leaves to a joint
	// update, with the files whose build failed in them.
	deferMu  sync.Mutex
	deferred map[string]string
}

// deferredTo names the files whose build failed in group id's, if
// createAll left it to their joint update; "" if not.
func (u *upgrader) deferredTo(id string) string {
	u.deferMu.Lock()
	defer u.deferMu.Unlock()
	return u.deferred[id]
}

// deferredError stops a create that createAll left to a joint update
// while it waited for the kernel's lock (create.Options.BeforeScan).
type deferredError struct{ by string }

func (e *deferredError) Error() string {
	return "left to the joint update of " + e.by
}

// logf writes one line of progress.
func (u *upgrader) logf(format string, args ...any) {
	u.logMu.Lock()
	defer u.logMu.Unlock()
	fmt.Fprintf(u.o.Log, "upgrade: "+format+"\n", args...)
}

// diffOf is the unified diff of one changed file, or nil.
func (u *upgrader) diffOf(ctx context.Context, file string) []byte {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.diffs == nil {
		u.diffs = map[string][]byte{}
	}
	if d, ok := u.diffs[file]; ok {
		return d
	}
	st := delta.Modified
	if _, err := os.Lstat(filepath.Join(u.old, file)); err != nil {
		st = delta.Added
	} else if _, err := os.Lstat(filepath.Join(u.new, file)); err != nil {
		st = delta.Removed
	}
	d, err := delta.Patch(ctx, u.old, u.new, []delta.Change{{Path: file, Status: st}})
	if err != nil {
		d = nil
	}
	u.diffs[file] = d
	return d
}

// partOf is the diff of file with only the hunks keep names.
func (u *upgrader) partOf(ctx context.Context, file string, keep []int) ([]byte, error) {
	h, err := srcpatch.ParseHunks(u.diffOf(ctx, file))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return h.Select(keep), nil
}

// withParts appends to patch the parts of the files of partial, in the
// order of their names.
func (u *upgrader) withParts(ctx context.Context, patch []byte, partial map[string][]int) ([]byte, error) {
	for _, f := range slices.Sorted(maps.Keys(partial)) {
		if len(partial[f]) == 0 {
			continue // its old text, as the running kernel's
		}
		d, err := u.partOf(ctx, f, partial[f])
		if err != nil {
			return nil, err
		}
		patch = append(patch, d...)
	}
	return patch, nil
}

// patchOf is the unified diff of files, in order.
func (u *upgrader) patchOf(ctx context.Context, files []string) ([]byte, error) {
	var out []byte
	for _, f := range files {
		d := u.diffOf(ctx, f)
		if d == nil {
			return nil, fmt.Errorf("no diff of %s", f)
		}
		out = append(out, d...)
	}
	return out, nil
}

// Outcome is what became of one group's update.
type Outcome struct {
	Group Group `json:"group"`
	// Category is one of the report's: carried, refused, init-only,
	// build-only (no object code changed), not-built.
	Category Category `json:"category"`
	// WithHeaders says the update includes the group's headers, because
	// its .c file does not build without them: Headers, those of them
	// that the compiler's errors named (neededHeaders, grown while the
	// next build's errors named more: withHeaders), or else all.
	WithHeaders bool     `json:"with_headers,omitempty"`
	Headers     []string `json:"headers,omitempty"`
	Output      string   `json:"output,omitempty"` // the tarball, in the output directory
	Targets     []string `json:"targets,omitempty"`
	Functions   []string `json:"functions,omitempty"` // "name (object)" of what it replaces or adds
	Objects     int      `json:"objects,omitempty"`   // objects rebuilt
	// Scanned are the objects only its headers reach, scanned for
	// whether they change (most are not rebuilt).
	Scanned int    `json:"scanned,omitempty"`
	Rule    string `json:"rule,omitempty"`
	// RefusedIn are the objects create's refusals name, for a refusal
	// of what the objects compiled to (not of the build).
	RefusedIn []string `json:"refused_in,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	Hint      string   `json:"hint,omitempty"` // what the author can do
	Cached    bool     `json:"cached,omitempty"`
	Seconds   float64  `json:"seconds"`
	// StageMillis is how long each of create's stages took (create's
	// --json stages) for a carried update made in this run.
	StageMillis map[string]int64 `json:"stage_ms,omitempty"`
	// deferredTo names the files whose build failed in this group's,
	// when it was left untried for their joint update (createAll).
	deferredTo string
}

// createAll creates every group's update, Jobs at once, and returns the
// outcomes in the groups' order.
//
// With defer set, a group whose build failed in other changed files
// (their old text does not compile with the headers it needs: 6.1.190's
// syn_recv_sock, which ten files call or implement) leaves those files'
// groups untried, for joinPartners to make one update of them: tried
// alone, each would scan the same thousands of includers only to fail
// the same way. Their outcomes say so (deferredTo), and Run tries them
// alone after all if the joint update is not carried.
func (u *upgrader) createAll(ctx context.Context, groups []Group, targets map[string]string, deferring bool) []Outcome {
	out := make([]Outcome, len(groups))
	work := make(chan int)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex // done, finished
		done     int
		finished = make([]bool, len(groups))
	)
	u.deferMu.Lock()
	u.deferred = map[string]string{}
	u.deferMu.Unlock()
	for w := 0; w < u.o.Jobs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				switch why := u.skip(groups[i], targets); {
				case why != "":
					out[i] = Outcome{Group: groups[i], Category: NotTried, Reason: why}
				case u.deferredTo(groups[i].ID) != "":
					out[i] = deferredOutcome(groups[i], u.deferredTo(groups[i].ID))
				default:
					out[i] = u.createOne(ctx, groups[i])
					if deferring && out[i].Rule == RuleBuildError && out[i].deferredTo == "" {
						failing := u.othersFailing(groups[i], out[i].Reason)
						mu.Lock()
						u.deferMu.Lock()
						for j, g := range groups {
							// A group being made is deferred
							// too: its create waits for the
							// kernel's lock, and stops before
							// its scan (BeforeScan).
							if j != i && !finished[j] && g.Kind == "c" && slices.ContainsFunc(g.Files, func(f string) bool { return contains(failing, f) }) && u.skip(g, targets) == "" {
								if _, ok := u.deferred[g.ID]; !ok {
									u.deferred[g.ID] = strings.Join(groups[i].Files, " ")
								}
							}
						}
						u.deferMu.Unlock()
						mu.Unlock()
					}
				}
				mu.Lock()
				finished[i] = true
				done++
				n := done
				mu.Unlock()
				u.logf("[%d/%d] %s: %s%s", n, len(groups), strings.Join(groups[i].Files, " "), out[i].Category, detail(out[i]))
			}
		}()
	}
	for i := range groups {
		work <- i
	}
	close(work)
	wg.Wait()
	return out
}

// deferredOutcome is the outcome of a group createAll left to the joint
// update of the files by.
func deferredOutcome(g Group, by string) Outcome {
	return Outcome{Group: g, Category: Refused, Rule: RuleBuildError, deferredTo: by,
		Reason: fmt.Sprintf("not tried alone: the build of %s with the release's headers fails in it without its changes, so it is tried with them as one update", by)}
}

// retryDeferred tries alone, after joinPartners, the groups createAll left
// to a joint update that was not carried (or not made), then joins again:
// deferring them changes what is tried first, never what is reported.
func (u *upgrader) retryDeferred(ctx context.Context, groups []Group, results []Outcome, targets map[string]string) ([]Group, []Outcome) {
	var idx []int
	var sub []Group
	for i, oc := range results {
		if oc.deferredTo != "" {
			idx = append(idx, i)
			sub = append(sub, groups[i])
		}
	}
	if len(idx) == 0 {
		return groups, results
	}
	u.logf("%d files left to a joint update that was not carried: trying each alone", len(idx))
	again := u.createAll(ctx, sub, targets, false) // resets u.deferred
	for k, i := range idx {
		results[i] = again[k]
	}
	return u.joinPartners(ctx, groups, results)
}

func detail(o Outcome) string {
	switch {
	case o.Category == Carried:
		s := fmt.Sprintf(" (%d functions)", len(o.Functions))
		if o.Scanned > 0 {
			s = fmt.Sprintf(" (%d functions; %d objects rebuilt, %d a changed header reaches scanned)", len(o.Functions), o.Objects, o.Scanned)
		}
		if o.Cached {
			s += ", cached"
		}
		return s
	case o.Rule == RuleError:
		// A failure of the tool, not a refusal: say it where it
		// happens.
		line, _, _ := strings.Cut(o.Reason, "\n")
		return " (" + o.Rule + ": " + line + ")"
	case o.Rule != "":
		return " (" + o.Rule + ")"
	}
	return ""
}

// skip says why a group is not tried, or "".
func (u *upgrader) skip(g Group, targets map[string]string) string {
	if u.o.Plan {
		return "not tried (--plan)"
	}
	if len(u.o.Files) > 0 && !matchAny(g.Files, u.o.Files) {
		return "not tried (--files " + strings.Join(u.o.Files, ",") + ")"
	}
	if len(u.o.Targets) == 0 {
		return ""
	}
	if g.Kind == "c" && contains(u.o.Targets, targets[g.Files[0]]) {
		return ""
	}
	return "not tried (--targets " + strings.Join(u.o.Targets, ",") + ")"
}

func matchAny(files, patterns []string) bool {
	for _, f := range files {
		for _, p := range patterns {
			if ok, _ := path.Match(p, f); ok {
				return true
			}
		}
	}
	return false
}

func targetsOf(files []delta.File) map[string]string {
	m := map[string]string{}
	for _, f := range files {
		m[f.Path] = f.Target
	}
	return m
}

// createOne makes a group's update, first without its headers, then, if
// its .c file does not build so, with them.
func (u *upgrader) createOne(ctx context.Context, g Group) Outcome {
	start := time.Now()
	oc := u.tryCreate(ctx, g, nil)
	if oc.Rule == RuleBuildError && len(g.Headers) > 0 && oc.deferredTo == "" {
		oc = u.withHeaders(ctx, g, oc.Reason, func(headers []string) Outcome {
			return u.tryCreate(ctx, g, headers)
		})
		if oc.Rule == RuleMaxObjects {
			oc = u.initOnlyOwn(ctx, g, oc)
		}
	}
	oc.Seconds = time.Since(start).Seconds()
	return oc
}

// initOnlyOwn: a fix whose headers reach more objects than the budget
// (6.1.190's init/main.c needs a new macro of compiler_attributes.h,
// which every object includes) may itself change only init code, which
// nothing runs again: its own objects, built with those headers, are
// compared alone, and if all they change is init code, so is the fix. The
// headers' changes are their own files' updates. Otherwise over is the
// outcome.
func (u *upgrader) initOnlyOwn(ctx context.Context, g Group, over Outcome) Outcome {
	files := append(append([]string{}, g.Files...), over.Headers...)
	raw, err := u.patchOf(ctx, files)
	if err != nil {
		return over
	}
	key := u.cacheKey(raw, g.ID+" own objects", false)
	oc, ok := u.cached(key)
	if !ok {
		if u.o.CachedOnly {
			return over
		}
		oc = Outcome{Group: g, WithHeaders: true, Headers: over.Headers}
		p, err := srcpatch.Parse(strings.NewReader(string(raw)))
		if err != nil {
			return over
		}
		_, err = u.o.Create(ctx, create.Options{
			Kernel: u.k, Patch: p, PatchName: g.ID + ".diff", ID: g.ID, Output: filepath.Join(u.o.Output, ".ksplice-"+g.ID+"-own.tar"),
			KmodSrc: u.o.KmodSrc, MaxObjects: u.o.MaxObjects, MaxScan: u.o.MaxScan, OwnObjectsOnly: true, KeepExports: true, Tool: u.o.Tool,
			Log: &scanProgress{u: u, files: strings.Join(g.Files, " ")}, Resolver: u.resolver, Includers: u.includers,
		})
		if err == nil {
			err = create.ErrOwnObjectsOnly
		}
		oc = sortError(oc, err)
		u.store(key, oc)
	}
	if oc.Category != InitOnly {
		return over
	}
	oc.Group, oc.Cached = g, oc.Cached || over.Cached
	oc.Reason += fmt.Sprintf("\nits own objects compared alone, built with %s: their reach is over the budget (%s), and each header's own update carries its changes", strings.Join(over.Headers, ", "), firstLine(over.Reason))
	return oc
}

// firstLine is s up to its first line break.
func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// withHeaders tries a group whose .c files do not build without its
// changed headers (buildErr says why) with as few of them as build:
// first only those that declare what the compiler missed, then, while
// the build fails on names the headers left out declare, those too (a
// new helper's header may need another header's new type, and gcc
// reports some errors only once others are gone). A header change
// reaches every object that includes it, and the one a fix needs (a new
// helper) is often small while another it includes (include/linux/list.h)
// is everywhere. The changes of the headers left out are not in the
// update, as none are when the file builds without them: each header's
// own update carries them. All of them are tried last.
func (u *upgrader) withHeaders(ctx context.Context, g Group, buildErr string, try func(headers []string) Outcome) Outcome {
	var sub []string
	for len(sub) < len(g.Headers) {
		var rest []string
		for _, h := range g.Headers {
			if !contains(sub, h) {
				rest = append(rest, h)
			}
		}
		add := u.neededHeaders(ctx, rest, buildErr)
		if len(add) == 0 || len(sub)+len(add) == len(g.Headers) {
			break
		}
		sub = append(sub, add...)
		sort.Strings(sub)
		u.logf("%s: trying %d of its %d changed headers: %s", strings.Join(g.Files, " "), len(sub), len(g.Headers), strings.Join(sub, ", "))
		oc := try(sub)
		if oc.Rule != RuleBuildError || oc.deferredTo != "" {
			return oc
		}
		if others := u.othersFailing(g, oc.Reason); len(others) > 0 {
			// Other changed files' old text does not build with
			// these headers: no header helps, their changes do
			// (joinPartners).
			u.logf("%s: with these headers %s do not build without their own changes", strings.Join(g.Files, " "), strings.Join(others, ", "))
			return oc
		}
		buildErr = oc.Reason
	}
	return try(g.Headers)
}

// quoted matches an identifier gcc quotes in a diagnostic (‘name’ in a
// UTF-8 locale, 'name' in C), also "struct name".
var quoted = regexp.MustCompile("[‘']((?:struct |union |enum )?[A-Za-z_][A-Za-z0-9_]*)[’']")

// quotedMember matches a quoted expression that ends with a member
// ('p->ops->fn', 's.field'), capturing the member.
var quotedMember = regexp.MustCompile("[‘'][^’']*(?:->|\\.)([A-Za-z_][A-Za-z0-9_]*)[’']")

// notMissing matches the parts of gcc's error lines that quote names that
// are not missing: "did you mean 'qdisc_dev'?", "(have 'int')".
var notMissing = regexp.MustCompile("did you mean [‘'][^’']*[’']|\\(have [‘'][^’']*[’']\\)")

// cWords are the keywords and type names of C that gcc quotes in errors
// ("'sizeof' applied to a bit-field"): in every header's diff, they pick
// every header.
var cWords = map[string]bool{
	"int": true, "char": true, "short": true, "long": true, "unsigned": true, "signed": true,
	"void": true, "float": true, "double": true, "_Bool": true, "bool": true, "struct": true,
	"union": true, "enum": true, "const": true, "volatile": true, "static": true, "extern": true,
	"inline": true, "sizeof": true, "typeof": true, "__typeof__": true, "_Alignof": true,
	"return": true, "if": true, "else": true, "for": true, "while": true, "do": true,
	"switch": true, "case": true, "default": true, "break": true, "continue": true, "goto": true,
	"typedef": true, "asm": true, "__asm__": true, "__attribute__": true, "register": true,
	"restrict": true, "auto": true, "NULL": true, "true": true, "false": true,
}

// neededHeaders picks, of a group's changed headers, those whose change
// adds or removes a line naming an identifier the failed build's errors
// quote (an undeclared function or constant, an unknown type, a missing
// member, a call with other arguments); nil if the errors name none.
func (u *upgrader) neededHeaders(ctx context.Context, headers []string, buildErr string) []string {
	names := map[string]bool{}
	for _, line := range strings.Split(buildErr, "\n") {
		// An initializer of the wrong type names the member it
		// fills on the note after the error: "(near initialization
		// for 'dccp_ipv4_af_ops.syn_recv_sock')".
		if !strings.Contains(line, "error:") && !strings.Contains(line, "(near initialization for") {
			continue
		}
		// gcc's guesses name what exists, and "(have 'int')" the
		// type an expression has: neither is what is missing.
		line = notMissing.ReplaceAllString(line, "")
		for _, m := range quoted.FindAllStringSubmatch(line, -1) {
			f := strings.Fields(m[1])
			if n := f[len(f)-1]; !cWords[n] {
				names[n] = true
			}
		}
		// "too many arguments to function 'inet_csk(sk)->icsk_af_ops->syn_recv_sock'":
		// the member is what changed.
		for _, m := range quotedMember.FindAllStringSubmatch(line, -1) {
			if m[1] != "h" && m[1] != "c" { // 'x.h' is a file
				names[m[1]] = true
			}
		}
	}
	var out []string
	if len(names) > 0 {
		for _, h := range headers {
			if changedLinesName(u.diffOf(ctx, h), names) || u.changedDeclsName(ctx, h, names) {
				out = append(out, h)
			}
		}
	}
	if len(out) > 0 {
		return out
	}
	// An unknown macro quotes nothing of its own ("expected ';' before
	// 'void'" for a new attribute macro): the words of the code gcc
	// shows that a changed header newly #defines. Nor does an error
	// about a member's new type ("'sizeof' applied to a bit-field" of
	// sizeof(dev->reg_state), a u8 since): the members the code shows,
	// after . or ->, that a changed header's lines name.
	words, members := map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(buildErr, "\n") {
		if m := excerpt.FindStringSubmatch(line); m != nil {
			for _, w := range word.FindAllString(m[1], -1) {
				words[w] = true
			}
			for _, a := range memberAccess.FindAllStringSubmatch(m[1], -1) {
				members[a[1]] = true
			}
		}
		// gcc shows no code for some notes of a macro's expansion
		// (dev.c's WRITE_ONCE(dev->reg_state, ...)): the line the
		// note names, in the release's source.
		if m := located.FindStringSubmatch(line); m != nil {
			for _, a := range memberAccess.FindAllStringSubmatch(u.sourceLine(m[1], m[2]), -1) {
				members[a[1]] = true
			}
		}
	}
	for _, h := range headers {
		if d := u.diffOf(ctx, h); definesName(d, words) || changedLinesName(d, members) {
			out = append(out, h)
		}
	}
	return out
}

// located matches where a diagnostic is, in a build tree made of the
// release's source (".../post/src/net/core/dev.c:10246:9: note:"): the
// file's path in the tree and the line.
var located = regexp.MustCompile(`/post/src/([^\s:]+\.[ch]):(\d+):\d+: (?:error|note):`)

// sourceLine returns line n (a decimal string) of the release's file rel,
// or "".
func (u *upgrader) sourceLine(rel, n string) string {
	i, err := strconv.Atoi(n)
	if err != nil || i < 1 || u.new == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(u.new, filepath.Clean(rel)))
	if err != nil {
		return ""
	}
	lines := strings.Split(string(b), "\n")
	if i > len(lines) {
		return ""
	}
	return lines[i-1]
}

// memberAccess matches a member's name after . or -> in code.
var memberAccess = regexp.MustCompile(`(?:->|\.)\s*([A-Za-z_][A-Za-z0-9_]*)`)

// excerpt matches a line of code gcc shows under a diagnostic
// ("  911 | asmlinkage __visible __init ...").
var excerpt = regexp.MustCompile(`^\s*\d+ \| (.*)$`)

// defineRE matches a line a unified diff adds that defines a macro.
var defineRE = regexp.MustCompile(`^\+\s*#\s*define\s+([A-Za-z_][A-Za-z0-9_]*)`)

// definesName reports whether a unified diff adds a #define of one of
// names.
func definesName(diff []byte, names map[string]bool) bool {
	for _, line := range strings.Split(string(diff), "\n") {
		if m := defineRE.FindStringSubmatch(line); m != nil && names[m[1]] {
			return true
		}
	}
	return false
}

var word = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)

// changedLinesName reports whether a unified diff adds or removes a line
// with one of names as a word.
func changedLinesName(diff []byte, names map[string]bool) bool {
	for _, line := range strings.Split(string(diff), "\n") {
		if !strings.HasPrefix(line, "+") && !strings.HasPrefix(line, "-") || strings.HasPrefix(line, "+++") || strings.HasPrefix(line, "---") {
			continue
		}
		for _, w := range word.FindAllString(line[1:], -1) {
			if names[w] {
				return true
			}
		}
	}
	return false
}

// changedDeclsName reports whether a declaration that a changed header's
// diff changes names one of names, on a line the diff may not show: 6.1.190
// adds a parameter to inet_connection_sock_af_ops.syn_recv_sock on the
// declaration's last lines, and the member's name is on its first.
func (u *upgrader) changedDeclsName(ctx context.Context, header string, names map[string]bool) bool {
	oldLines, newLines := changedLineNumbers(u.diffOf(ctx, header))
	for _, side := range []struct {
		tree    string
		changed []int
	}{{u.old, oldLines}, {u.new, newLines}} {
		if len(side.changed) == 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(side.tree, header))
		if err != nil {
			continue
		}
		lines := strings.Split(string(b), "\n")
		for _, n := range side.changed {
			for _, line := range statementAround(lines, n-1) {
				for _, w := range word.FindAllString(line, -1) {
					if names[w] {
						return true
					}
				}
			}
		}
	}
	return false
}

// hunkRE matches a unified diff's hunk header.
var hunkRE = regexp.MustCompile(`^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@`)

// changedLineNumbers returns the numbers (from 1) of the lines a unified
// diff of one file removes from the old text and adds to the new.
func changedLineNumbers(diff []byte) (old, new []int) {
	o, n := 0, 0
	for _, line := range strings.Split(string(diff), "\n") {
		if m := hunkRE.FindStringSubmatch(line); m != nil {
			o, _ = strconv.Atoi(m[1])
			n, _ = strconv.Atoi(m[2])
			continue
		}
		if o == 0 && n == 0 || strings.HasPrefix(line, "+++") || strings.HasPrefix(line, "---") {
			continue
		}
		switch {
		case strings.HasPrefix(line, "-"):
			old = append(old, o)
			o++
		case strings.HasPrefix(line, "+"):
			new = append(new, n)
			n++
		case strings.HasPrefix(line, " ") || line == "":
			o++
			n++
		}
	}
	return old, new
}

// statementAround returns the lines of the C statement or declaration
// that line i (from 0) is part of: back to the line after one that ends
// one (";", "{", "}") or a blank or preprocessor line, on to the line
// that ends it; at most a few lines each way.
func statementAround(lines []string, i int) []string {
	if i < 0 || i >= len(lines) {
		return nil
	}
	ends := func(l string) bool {
		t := strings.TrimSpace(l)
		if j := strings.Index(t, "/*"); j >= 0 {
			t = strings.TrimSpace(t[:j])
		}
		return t == "" || strings.HasPrefix(t, "#") || strings.HasSuffix(t, ";") || strings.HasSuffix(t, "{") || strings.HasSuffix(t, "}")
	}
	start := i
	for start > 0 && i-start < 12 && !ends(lines[start-1]) {
		start--
	}
	end := i
	for end+1 < len(lines) && end-i < 12 && !ends(lines[end]) {
		end++
	}
	return lines[start : end+1]
}

// Rules of outcomes that are not elfdiff's.
const (
	RuleBuildError = "build-error" // the changed file does not compile in the old tree
	RuleNoChange   = "no-change"   // no object code changed
	RuleMaxObjects = "max-objects" // over the budget of rebuilt objects
	RuleNotBuilt   = "not-built"   // create found nothing the configuration builds
	RuleNewFile    = "new-or-removed-file"
	// RuleNothingReplaced: the update only adds functions that no
	// running code calls (their callers are in other changed files).
	RuleNothingReplaced = "nothing-replaced"
	RuleUnsupported     = "unsupported" // create cannot generate the update
	// RuleMissingSymbol: the new code needs a function the running
	// kernel lacks and another change of the release defines.
	RuleMissingSymbol = "missing-symbol"
	RuleError         = "error" // create failed for another reason
)

// tryCreate makes the update of a group's files, of the parts of files it
// carries in part, and of headers.
func (u *upgrader) tryCreate(ctx context.Context, g Group, headers []string) Outcome {
	oc := Outcome{Group: g, WithHeaders: len(headers) > 0, Headers: headers}
	raw, err := u.patchOf(ctx, append(append([]string{}, g.Files...), headers...))
	if err == nil {
		raw, err = u.withParts(ctx, raw, g.Partial)
	}
	if err != nil {
		return refused(oc, RuleError, err.Error(), "")
	}
	up := u.up
	up.Files = append([]string{}, g.Files...)
	key := u.cacheKey(raw, g.ID, false)
	if c, ok := u.cached(key); ok {
		c.Group, c.Cached = g, true
		if c.Output != "" {
			dst := filepath.Join(u.o.Output, "ksplice-"+g.ID+".tar")
			if err := linkOrCopy(filepath.Join(u.cacheDir(key), "update.tar"), dst); err != nil {
				return refused(oc, RuleError, err.Error(), "")
			}
			c.Output = dst
		}
		return c
	}
	if u.o.CachedOnly {
		oc.Category, oc.Reason = NotTried, "not tried (--cached-only: no earlier run made it)"
		return oc
	}
	oc = u.create(ctx, oc, raw, g.ID, g.Description(), &up, u.o.MaxObjects)
	if oc.deferredTo == "" {
		u.store(key, oc)
	}
	return oc
}

// scanProgress passes on, of a create's log, the progress of its scan of
// a changed header's includers (thousands of objects, minutes), and the
// warnings: the rest is the report's.
type scanProgress struct {
	u     *upgrader
	files string
	mu    sync.Mutex // a create may log from more than one goroutine
	buf   []byte
}

func (p *scanProgress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(p.buf[:i])
		p.buf = p.buf[i+1:]
		if rest, ok := strings.CutPrefix(line, "create: "); ok && (strings.HasPrefix(rest, "scanned ") || strings.HasPrefix(rest, "warning: ") || strings.HasPrefix(rest, "by name: ")) {
			p.u.logf("%s: %s", p.files, rest)
		}
	}
}

// Description of a group's update.
func (g Group) Description() string {
	s := "part of the upgrade: " + strings.Join(g.Files, ", ")
	if len(g.Partial) > 0 {
		s += "; in part: " + strings.Join(slices.Sorted(maps.Keys(g.Partial)), ", ")
	}
	return s
}

// create runs create for one patch and sorts its answer.
func (u *upgrader) create(ctx context.Context, oc Outcome, raw []byte, id, desc string, up *update.Upgrade, maxObjects int) Outcome {
	p, err := srcpatch.Parse(strings.NewReader(string(raw)))
	if err != nil {
		return refused(oc, RuleError, err.Error(), "")
	}
	tmp := filepath.Join(u.o.Output, ".ksplice-"+id+".tar")
	res, err := u.o.Create(ctx, create.Options{
		Kernel: u.k, Patch: p, PatchName: id + ".diff", ID: id, Description: desc,
		Output: tmp, KmodSrc: u.o.KmodSrc, MaxObjects: maxObjects, MaxScan: u.o.MaxScan, Upgrade: up, KeepExports: true,
		Tool: u.o.Tool, Log: &scanProgress{u: u, files: strings.Join(up.Files, " ")}, Resolver: u.resolver, Includers: u.includers, ScanCache: u.scans,
		BeforeScan: func() error {
			if by := u.deferredTo(id); by != "" {
				return &deferredError{by: by}
			}
			return nil
		},
	})
	var de *deferredError
	if errors.As(err, &de) {
		return deferredOutcome(oc.Group, de.by)
	}
	if err != nil {
		return sortError(oc, err)
	}
	oc.Category = Carried
	dst := filepath.Join(u.o.Output, "ksplice-"+id+".tar")
	if err := os.Rename(tmp, dst); err != nil {
		return refused(oc, RuleError, err.Error(), "")
	}
	oc.Output = dst
	for _, st := range res.Stages {
		if oc.StageMillis == nil {
			oc.StageMillis = map[string]int64{}
		}
		oc.StageMillis[st.Name] += st.Millis
	}
	if res.Plan != nil {
		oc.Objects, oc.Scanned = len(res.Plan.Objects), len(res.Plan.Reached)
	}
	for _, t := range res.Manifest.Targets {
		oc.Targets = append(oc.Targets, t.Name)
		for _, f := range t.Functions {
			oc.Functions = append(oc.Functions, fmt.Sprintf("%s (%s, %s)", f.Name, f.Object, f.Status))
		}
	}
	return oc
}

func refused(oc Outcome, rule, reason, hint string) Outcome {
	oc.Category, oc.Rule, oc.Reason, oc.Hint = Refused, rule, reason, hint
	return oc
}

// sortError puts a create error into its category and rule.
func sortError(oc Outcome, err error) Outcome {
	var re *create.RefusedError
	var be *kbuild.BuildError
	switch {
	case errors.As(err, &re):
		var rules, hints []string
		initOnly := true
		for _, r := range re.Refusals {
			if !contains(rules, string(r.Rule)) {
				rules = append(rules, string(r.Rule))
			}
			if r.Hint != "" {
				hints = append(hints, r.Hint)
			}
			initOnly = initOnly && (r.Rule == "init" || r.Rule == "init-data")
			if !contains(oc.RefusedIn, r.Object) {
				oc.RefusedIn = append(oc.RefusedIn, r.Object)
			}
		}
		oc = refused(oc, strings.Join(rules, ","), re.Error(), strings.Join(hints, "; "))
		if oc.Hint == "" {
			oc.Hint = hintFor(rules)
		}
		// Init code alone changed: nothing runs it again. Init code
		// beside changed code that runs after boot is a refusal: the
		// new code may rely on what the new init code sets up.
		if initOnly && len(re.Changed) == 0 {
			oc.Category = InitOnly
			oc.Hint = "nothing to do: the changed code ran at boot and is gone; a reboot into the release runs the new code"
		}
		return oc
	case errors.Is(err, create.ErrNoChanges):
		oc.Category, oc.Rule, oc.Reason = BuildOnly, RuleNoChange, err.Error()
		return oc
	case errors.Is(err, create.ErrTooManyObjects):
		return refused(oc, RuleMaxObjects, err.Error(), "raise --max-objects or --max-scan, as the error says (the cost is once per release), or carry the header's effect in the .c files that need it")
	case errors.As(err, &be):
		return refused(oc, RuleBuildError, err.Error(), "the change needs other changes of the release to compile: make a patch with them")
	case errors.Is(err, verdict.ErrRefused) && strings.Contains(err.Error(), "not built by this kernel's configuration"):
		oc.Category, oc.Rule, oc.Reason = NotBuilt, RuleNotBuilt, err.Error()
		return oc
	case errors.Is(err, verdict.ErrRefused) && (strings.Contains(err.Error(), "is a new file") || strings.Contains(err.Error(), "is deleted")):
		return refused(oc, RuleNewFile, err.Error(), "a live update cannot add or remove objects: move the code into changed files by hand")
	case errors.Is(err, create.ErrMissingSymbol):
		return refused(oc, RuleMissingSymbol, err.Error(), "another file of the release defines it: make one update with that file")
	case errors.Is(err, patchgen.ErrNothingReplaced):
		return refused(oc, RuleNothingReplaced, err.Error(), "its new functions are called from other files of the release: make one update of them (done for the changed files that call them)")
	case errors.Is(err, verdict.ErrUnsupported):
		return refused(oc, RuleUnsupported, err.Error(), "a class of change ksplice cannot carry yet: report it, or write the update by hand")
	case errors.Is(err, verdict.ErrRefused):
		return refused(oc, "refused", err.Error(), "")
	}
	return refused(oc, RuleError, err.Error(), "")
}

// hintFor says what an author can do about elfdiff's rules.
func hintFor(rules []string) string {
	var hs []string
	for _, r := range rules {
		switch r {
		case "data-changed", "rodata-changed", "read-mostly", "data-once":
			hs = append(hs, "the fix changes data: write hooks that set it (--hooks FILE.c --allow-data SYMBOL)")
		case "export-changed":
			hs = append(hs, "the fix changes an export: keep the old export and add the new code under a new name")
		case "unknown-section":
			hs = append(hs, "a section create does not know: report it")
		case "init", "init-data":
			hs = append(hs, "the fix changes init code, which ran at boot, beside code that runs later and may rely on it: do the init code's new work in a load hook (--hooks), or reboot into the release")
		case "no-ftrace-site":
			hs = append(hs, "a changed function without an ftrace site cannot be redirected: change its callers instead")
		case "struct-layout":
			hs = append(hs, "the fix changes the layout of a type the running kernel's objects have: carry it without changing the type (a shadow variable for a new member: ksplice_shadow_*), or reboot into the release")
		case "enum-value":
			hs = append(hs, "the fix renumbers constants whose old values the running kernel keeps: reboot into the release")
		}
	}
	return strings.Join(hs, "; ")
}

// cumulative makes the one update that carries every carried group.
func (u *upgrader) cumulative(ctx context.Context, groups []Group, results []Outcome) error {
	var files []string
	carried := 0
	for _, oc := range results {
		if oc.Category != Carried {
			continue
		}
		carried += len(oc.Group.Files)
		for _, f := range oc.Group.Files {
			if !contains(files, f) {
				files = append(files, f)
			}
		}
		if oc.WithHeaders {
			hs := oc.Headers
			if hs == nil {
				hs = oc.Group.Headers // made before Headers was recorded
			}
			for _, h := range hs {
				if !contains(files, h) {
					files = append(files, h)
				}
			}
		}
	}
	// The parts of files that joint updates carry in part, unless
	// another update carries the whole file.
	partial := map[string][]int{}
	for _, oc := range results {
		if oc.Category != Carried {
			continue
		}
		for f, keep := range oc.Group.Partial {
			if !contains(files, f) {
				partial[f] = slices.Compact(slices.Sorted(slices.Values(append(partial[f], keep...))))
			}
		}
	}
	r := u.report
	if len(files) == 0 {
		return errors.New("no update was carried: nothing to put in it")
	}
	raw, err := u.patchOf(ctx, files)
	if err == nil {
		raw, err = u.withParts(ctx, raw, partial)
	}
	if err != nil {
		return err
	}
	up := u.up
	up.Cumulative, up.Files = true, files
	up.Carried, up.Needed = r.Summary.carriedFiles(), r.Summary.neededFiles()
	id := "upgrade_" + strings.Trim(nonID.ReplaceAllString(strings.ToLower(u.o.To), "_"), "_")
	if len(id) > 32 {
		id = id[:32]
	}
	fmt.Fprintf(u.o.Log, "upgrade: the cumulative update %s: %s\n", id, plural(len(files), "file"))
	start := time.Now()
	key := u.cacheKey(raw, id, true)
	oc, ok := u.cached(key)
	if ok {
		oc.Cached = true
		dst := filepath.Join(u.o.Output, "ksplice-"+id+".tar")
		if err := linkOrCopy(filepath.Join(u.cacheDir(key), "update.tar"), dst); err != nil {
			return err
		}
		oc.Output = dst
	} else if u.o.CachedOnly {
		return errors.New("not made (--cached-only)")
	} else {
		g := Group{ID: id, Files: files, Kind: "cumulative", Partial: partial}
		// Every object the carried updates rebuilt, each within the
		// budget: the sum bounds them all.
		budget := 0
		for _, o := range results {
			budget += o.Objects
		}
		oc = u.create(ctx, Outcome{Group: g}, raw, id, fmt.Sprintf("%s %s -> %s: every carried change (%s)", u.up.Package, u.up.From, u.o.To, plural(len(files), "file")), &up, max(budget, 1))
		u.store(key, oc)
	}
	oc.Seconds = time.Since(start).Seconds()
	r.Cumulative = &oc
	if oc.Category != Carried {
		return fmt.Errorf("%s: %s", oc.Rule, oc.Reason)
	}
	return nil
}

// cacheKey identifies an update by everything it is made from.
func (u *upgrader) cacheKey(patch []byte, id string, cumulative bool) string {
	h := sha256.New()
	fmt.Fprintf(h, "kernel %s %s\nid %s\ncumulative %v\nmax %d\nscan %d\ntool %s\n", u.k.Spec, u.k.Version, id, cumulative, u.o.MaxObjects, u.o.MaxScan, u.o.ToolHash)
	fmt.Fprintf(h, "upgrade %s %s %s %s\n", u.up.Package, u.up.From, u.up.To, u.up.Release)
	if cumulative {
		fmt.Fprintf(h, "summary %d %d\n", u.report.Summary.carriedFiles(), u.report.Summary.neededFiles())
	}
	h.Write(patch)
	return hex.EncodeToString(h.Sum(nil))[:24]
}

func (u *upgrader) cacheDir(key string) string {
	return filepath.Join(kbuild.CacheDir(u.o.CacheDir), "upgrade", strings.ReplaceAll(u.k.Spec, ":", "_"), key)
}

// plural is "1 file", "2 files".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
