// Package create turns a unified diff and the kernel tree a running kernel
// was built from into an update tarball: it builds the objects the patch
// touches before and after it, diffs them (elfdiff), generates an update
// module per target (patchgen), builds it and the engine with Kbuild, and
// writes the tarball (update).
package create

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/renameio/v2"
	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/elfdiff"
	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/modsig"
	"github.com/ksplice-go/ksplice/internal/patchgen"
	"github.com/ksplice-go/ksplice/internal/sign"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
	"github.com/ksplice-go/ksplice/internal/update"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

var (
	// ErrNoChanges means the patch changes no object code.
	ErrNoChanges = fmt.Errorf("%w: the patch changes nothing in the object code", verdict.ErrRefused)
	// ErrCompiler means the host compiler differs from the one the kernel
	// was built with.
	ErrCompiler = fmt.Errorf("%w: compiler mismatch", verdict.ErrRefused)

	// ErrOwnObjectsOnly means Options.OwnObjectsOnly compared the
	// objects and found nothing to refuse: no update is made of them
	// alone.
	ErrOwnObjectsOnly = errors.New("only the patch's own objects were compared (no update made)")
)

// Options control Create.
type Options struct {
	Kernel    *kbuild.Kernel
	Patch     *srcpatch.Patch
	PatchName string // file name, for the id and the tarball
	// After are the patches of the applied updates this one stacks on,
	// oldest first: the update is built against the tree with them
	// applied, and must be applied after them.
	After         []*srcpatch.Patch
	ID            string // default: derived from the patch
	Description   string // default: the patch's subject
	Output        string // default: ksplice-ID.tar
	KmodSrc       string // see FindKmodSrc
	ForceCompiler bool
	// ExactCompiler makes every build with the kernel's own compiler,
	// even where the host's cross compiler could make the section
	// builds (kbuild.PlanCompilers).
	ExactCompiler bool
	// Hooks is the author's hook file (kernel C, see patchgen.HookNames),
	// compiled into the update module of vmlinux or of the only target.
	Hooks string
	// AllowData names data objects whose changed initializers the update
	// may leave to the hooks: elfdiff's "data-changed" refusal of them
	// becomes a warning. Only with Hooks.
	AllowData []string
	// MaxObjects bounds the objects the update rebuilds (a changed header
	// reaches every object that includes it, and those whose code it may
	// change are rebuilt); 0 means DefaultMaxObjects.
	MaxObjects int
	// MaxScan bounds the objects that include a changed header and are
	// preprocessed to find those whose code it may change (scanIncluders,
	// most of a second each); 0 means DefaultMaxScan.
	MaxScan int
	// KeepExports carries a patch that adds, removes or changes an
	// EXPORT_SYMBOL with the running kernel's exports as they are (a
	// warning names each): the modules that can load into the running
	// kernel were built against its exports (its Module.symvers), and a
	// distribution release's new exports are for its own ABI, whose
	// modules the running kernel refuses anyway. Without it, elfdiff's
	// export-changed refusal stands: a patch's own new export is
	// usually meant for a module to use. create --upgrade-to sets it.
	KeepExports bool
	// OwnObjectsOnly compares only the objects of the patch's .c files,
	// built with its headers, and makes no update (ErrOwnObjectsOnly
	// when nothing is refused): what a .c file's own change is (init
	// code, say) where its headers reach more objects than the budget
	// (create --upgrade-to, whose headers have updates of their own).
	OwnObjectsOnly bool
	// Includers, if set, lists the .c files of the kernel's pristine
	// source that include a file (Includers of Kernel), shared by the
	// creates of one run; nil: Create reads the index itself.
	Includers func(file string) ([]string, error)
	// Resolver, if set, says where the kernel's configuration builds an
	// object of its pristine source (a kbuild.Resolver of Kernel's
	// Source, Build and MakeVars), shared by the creates of one run
	// (create --upgrade-to) so that each Kbuild file is read once; nil:
	// Create reads what it needs itself.
	Resolver *kbuild.Resolver
	// ScanCache, if set, keeps the verdicts of the scan of a changed
	// header's includers for the creates of one run; nil: none kept.
	ScanCache *ScanCache
	// BeforeScan, if set, is called with the kernel's lock held, before
	// the objects that only changed headers reach are scanned; an error
	// stops the create and is returned as it is. A caller that runs
	// several creates (create --upgrade-to) learns, while one waits for
	// the lock, that its scan is no longer wanted.
	BeforeScan func() error
	// Upgrade, when set, is recorded in the manifest: the update carries
	// part of a distribution release (create --upgrade-to).
	Upgrade *update.Upgrade
	// SignKey, if set, signs the manifest (update.WriteSigned).
	SignKey *sign.PrivateKey
	// ModuleSignKey and ModuleSignCert, if set, sign every module of the
	// update (the engine too) with the kernel's scripts/sign-file, for
	// kernels that only load signed modules.
	ModuleSignKey, ModuleSignCert string
	Tool                          string    // "ksplice VERSION", recorded in the manifest
	Log                           io.Writer // progress lines
	Now                           func() time.Time
}

// Stage is one timed step of Create.
type Stage struct {
	Name   string `json:"name"`
	Millis int64  `json:"ms"`
}

// Result is what Create made.
type Result struct {
	ID       string           `json:"id"`
	Output   string           `json:"output"`
	Manifest *update.Manifest `json:"manifest"`
	Plan     *Plan            `json:"plan"`
	Stages   []Stage          `json:"stages"`
	// Millis is how long create took; the stages may overlap (the
	// builds run at once), so theirs add up to more.
	Millis int64 `json:"ms"`
	// Compilers says which compiler made which build.
	Compilers *kbuild.CompilerPlan `json:"compilers,omitempty"`
	Warnings  []string             `json:"warnings,omitempty"`
	// SignedBy is the id of the key that signed the manifest (--sign).
	SignedBy string `json:"signed_by,omitempty"`
	// ModulesSignedBy is the subject of the certificate whose key signed
	// the modules for the kernel (--module-sign-key).
	ModulesSignedBy string                     `json:"modules_signed_by,omitempty"`
	Diffs           map[string]*elfdiff.Result `json:"-"`
}

// Create builds the update. Refusals wrap verdict.ErrRefused and name what
// was refused and why; nothing is left behind on any error.
func Create(ctx context.Context, o Options) (*Result, error) {
	res, err := create(ctx, o)
	var again *exactAgain
	if errors.As(err, &again) {
		// New code the cross compiler may not make (see
		// kbuild.CompilerPlan.NoDynamicStack): all of it again with the
		// kernel's compiler, the stages of the first try kept.
		fmt.Fprintf(o.Log, "create: %s: building again with the kernel's compiler\n", again)
		o.ExactCompiler = true
		res, err = create(ctx, o)
		if res != nil {
			res.Millis += again.millis
			res.Stages = append(again.stages, res.Stages...)
			res.Compilers.Note = again.Error() + "; " + res.Compilers.Note
		}
	}
	return res, err
}

func create(ctx context.Context, o Options) (*Result, error) {
	c, err := newCreation(o)
	if err != nil {
		return nil, err
	}
	defer c.cleanup()
	start := time.Now()
	for _, st := range c.stages() {
		if err := c.clock.time(st.name, func() error { return st.run(ctx) }); err != nil {
			var again *exactAgain
			if errors.As(err, &again) {
				again.stages = c.clock.stages
				again.millis = time.Since(start).Milliseconds()
			}
			return nil, err
		}
	}
	c.res.Millis = time.Since(start).Milliseconds()
	return c.res, nil
}

// exactAgain is the error of a creation whose section builds, made by the
// cross compiler, hold new code that needs the kernel's.
type exactAgain struct {
	object, function string
	stages           []Stage
	millis           int64
}

func (e *exactAgain) Error() string {
	return fmt.Sprintf("%s: new code of %s allocates stack dynamically, which the cross compiler lays out unlike the kernel's", e.object, e.function)
}

// creation is the state of one Create as it passes through its stages.
type creation struct {
	o       Options
	k       *kbuild.Kernel
	res     *Result
	clock   clock
	hooks   []byte          // the author's hook file
	allowed map[string]bool // --allow-data
	kmodSrc string
	scratch string // removed by cleanup

	plan *Plan
	// narrowLater: a changed header's types are read from an
	// includer's preprocessed unit (byName's witness) once the trees
	// are made, and the scan's budget is checked then.
	narrowLater bool
	includers   func(string) ([]string, error)
	pairs       []Pair
	byTarget    map[string][]patchgen.Object // carried objects per target
	targets     []string                     // the keys of byTarget, sorted
	hookTarget  string
	modules     []*patchgen.Module // per target, in the order of targets
	engine      string             // the directory of the built engine
	manifest    *update.Manifest
	files       map[string][]byte // the tarball's files
}

// stage is one step of a creation. A stage whose name is "" times its own
// parts (see clock).
type stage struct {
	name string
	run  func(ctx context.Context) error
}

// stages lists the steps of a creation, in order.
func (c *creation) stages() []stage {
	st := []stage{
		{"resolve", c.resolve},
		{"plan", c.planObjects},
		{"compilers", c.planCompilers},
		{"", c.buildPairs}, // prepare-cross, apply-base, build-pre, build-running, apply-patch, build-post
		{"check-compiler", c.checkCompiler},
		{"diff", c.diff},
	}
	if c.o.OwnObjectsOnly {
		return append(st, stage{"own-only", func(context.Context) error { return ErrOwnObjectsOnly }})
	}
	st = append(st, []stage{
		{"build-engine", c.buildEngine}, // before generate: its exports
		{"generate", c.generate},
		{"build-modules", c.buildModules},
	}...)
	if c.o.ModuleSignKey != "" {
		st = append(st, stage{"sign-modules", c.signModules})
	}
	return append(st, stage{"write", c.write})
}

var stageTitle = map[string]string{
	"resolve":         "reading the patch against the kernel tree",
	"plan":            "finding the objects the patch touches",
	"compilers":       "choosing the compilers of the builds",
	"prepare-cross":   "preparing the kernel's tree for the cross compiler",
	"apply-base":      "applying the earlier patches (--after) to a scratch tree",
	"build-pre":       "building the touched objects before the patch",
	"prepare-running": "preparing the build tree of the kernel's own flags",
	"build-running":   "building them again with the kernel's own flags (the old code run-pre compares)",
	"apply-patch":     "applying the patch to a scratch tree",
	"build-post-own":  "building the patch's own objects after it, before the scan",
	"scan-includers":  "finding which objects that include a changed header it may change",
	"build-post":      "building the touched objects after the patch",
	"check-compiler":  "checking the compiler against the kernel's",
	"diff":            "comparing the objects",
	"own-only":        "stopping: only the patch's own objects were to be compared",
	"generate":        "generating the update modules",
	"build-engine":    "building the engine module (cached per kernel)",
	"build-modules":   "building the update modules",
	"sign-modules":    "signing the modules for the kernel (--module-sign-key)",
	"write":           "writing the update",
}

// clock times the stages of a creation and says on the log what each does.
type clock struct {
	mu     sync.Mutex // stages overlap (buildPairs' builds)
	log    io.Writer
	stages []Stage
}

// time runs fn as the stage name and records how long it took; a stage
// named "" is not recorded, its parts time themselves. Stages may run at
// once: each is recorded when it ends.
func (c *clock) time(name string, fn func() error) error {
	if name == "" {
		return fn()
	}
	start := time.Now()
	c.mu.Lock()
	fmt.Fprintf(c.log, "create: %s\n", stageTitle[name])
	c.mu.Unlock()
	err := fn()
	c.mu.Lock()
	c.stages = append(c.stages, Stage{Name: name, Millis: time.Since(start).Milliseconds()})
	c.mu.Unlock()
	return err
}

// newCreation checks the options that need no kernel tree.
func newCreation(o Options) (*creation, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.AllowData) > 0 && o.Hooks == "" {
		return nil, fmt.Errorf("%w: --allow-data %s: the running kernel keeps the old value of changed data; add hooks (--hooks FILE.c) that set the new value in post_apply and restore it in post_reverse", verdict.ErrRefused, strings.Join(o.AllowData, ", "))
	}
	c := &creation{
		o: o, k: o.Kernel,
		res:     &Result{Diffs: map[string]*elfdiff.Result{}},
		clock:   clock{log: o.Log},
		allowed: map[string]bool{},
		files:   map[string][]byte{},
	}
	if o.Hooks != "" {
		var err error
		if c.hooks, err = os.ReadFile(o.Hooks); err != nil {
			return nil, fmt.Errorf("hooks: %w", err)
		}
	}
	for _, s := range o.AllowData {
		c.allowed[s] = true
	}
	c.res.ID = o.ID
	if c.res.ID == "" {
		c.res.ID = deriveID(o.PatchName, o.Patch.Raw)
	}
	if !update.ValidID(c.res.ID) {
		return nil, fmt.Errorf("update id %q: use at most 32 lower-case letters, digits and '_'", c.res.ID)
	}
	c.res.Output = o.Output
	if c.res.Output == "" {
		c.res.Output = "ksplice-" + c.res.ID + ".tar"
	}
	return c, nil
}

func (c *creation) cleanup() {
	if c.scratch != "" {
		os.RemoveAll(c.scratch)
	}
	c.res.Stages = c.clock.stages
}

func (c *creation) warn(w string) {
	fmt.Fprintf(c.o.Log, "create: warning: %s\n", w)
	c.res.Warnings = append(c.res.Warnings, w)
}

// resolve finds the engine's sources and the patch's files in the tree.
func (c *creation) resolve(context.Context) error {
	var err error
	if c.kmodSrc, err = FindKmodSrc(c.o.KmodSrc); err != nil {
		return err
	}
	for _, a := range c.o.After {
		if err := a.Resolve(c.k.Source); err != nil {
			return fmt.Errorf("earlier patch (--after): %w", err)
		}
	}
	return c.o.Patch.Resolve(c.k.Source)
}

// planObjects finds the objects to rebuild: those of the changed .c files
// and of every file that includes a changed header, that the kernel's
// configuration builds.
func (c *creation) planObjects(ctx context.Context) error {
	k := c.k
	includers := c.o.Includers
	if includers == nil {
		includers = Includers(k)
	}
	headerUsers := func(h string) ([]string, error) {
		if c.o.OwnObjectsOnly && strings.HasSuffix(h, ".h") {
			return nil, nil // the .c files' objects alone
		}
		fmt.Fprintf(c.o.Log, "create: %s changes: finding what includes it\n", h)
		return includers(h)
	}
	pl, err := plan(c.o.Patch.Changes, headerUsers)
	if err != nil {
		return err
	}
	c.plan, c.res.Plan = pl, pl
	c.includers = includers
	narrow := func(reached []string) ([]string, bool, error) {
		if len(c.o.After) > 0 {
			// The headers' text before the patch is not the
			// pristine tree's: every includer is scanned.
			return reached, false, nil
		}
		kept, later, err := byName(k.Source, c.o.Patch, pl.Headers, reached, includers, nil, c.o.Log)
		c.narrowLater = later
		return kept, later, err
	}
	return configured(ctx, k, c.o.Resolver, pl, headerUsers, narrow, c.o.MaxObjects, c.o.MaxScan, c.o.Log)
}

// headersKey identifies the changed files of a patch that are not .c
// files by their contents after it (in the patched source tree src): with
// the same ones, an object whose source did not change preprocesses the
// same.
func headersKey(src string, p *srcpatch.Patch) (string, error) {
	h := sha256.New()
	var paths []string
	for _, ch := range p.Changes {
		if !strings.HasSuffix(ch.Path(), ".c") {
			paths = append(paths, ch.Path())
		}
	}
	sort.Strings(paths)
	for _, rel := range paths {
		b, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", rel, len(b))
		h.Write(b)
	}
	return fmt.Sprintf("%x:", h.Sum(nil)), nil
}

// maxObjects is the budget of rebuilt objects.
func (c *creation) maxObjects() int {
	if c.o.MaxObjects <= 0 {
		return DefaultMaxObjects
	}
	return c.o.MaxObjects
}

// scan drops, of the objects only a changed header reaches, those whose
// code the change cannot alter (scanIncluders), and bounds the rest.
func (c *creation) scan(ctx context.Context, pre, post kbuild.Tree) ([]string, error) {
	pl := c.plan
	if len(pl.Reached) == 0 {
		return pl.Objects, nil
	}
	if c.o.BeforeScan != nil {
		if err := c.o.BeforeScan(); err != nil {
			return nil, err
		}
	}
	if c.narrowLater {
		err := c.clock.time("narrow-by-name", func() error {
			kept, _, err := byName(c.k.Source, c.o.Patch, pl.Headers, pl.Reached, c.includers, witness(ctx, pre, post, newLayoutProbes(pre, post)), c.o.Log)
			if err != nil {
				return err
			}
			pl.narrow(kept)
			return scanBudget(pl, c.o.MaxScan)
		})
		if err != nil {
			return nil, err
		}
		if len(pl.Reached) == 0 {
			return pl.Objects, nil
		}
	}
	// The patch's own objects first, after it: if one does not build
	// (a fix that needs more of its release's headers), the scan of
	// thousands of includers would be wasted.
	reached := map[string]bool{}
	for _, o := range pl.Reached {
		reached[o] = true
	}
	var own []string
	for _, o := range pl.Objects {
		if !reached[o] {
			own = append(own, o)
		}
	}
	if len(own) > 0 {
		err := c.clock.time("build-post-own", func() error {
			_, err := post.BuildObjects(ctx, own, nil)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	var res *scanResult
	err := c.clock.time("scan-includers", func() error {
		key, err := headersKey(post.Source, c.o.Patch)
		if err != nil {
			return err
		}
		// Earlier patches (--after) and the tree the section builds
		// are made in (its compiler) make other units.
		for _, a := range c.o.After {
			key += fmt.Sprintf("%x:", sha256.Sum256(a.Raw))
		}
		key += pre.Build + ":" + post.Build + ":"
		store, err := newUnitStore(c.k, pre, c.o.Log)
		if err != nil {
			return err
		}
		res, err = scanIncluders(ctx, pre, post, pl.Reached, c.o.ScanCache, key, store, max(c.maxObjects()-len(own), 1), c.o.Log)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("scan the objects that include a changed header: %w", err)
	}
	affected := map[string]bool{}
	for _, o := range res.affected {
		affected[o] = true
		fmt.Fprintf(c.o.Log, "create: %s: rebuilt: %s\n", o, res.reasons[o])
	}
	var objs []string
	for _, o := range pl.Objects {
		if !reached[o] || affected[o] {
			objs = append(objs, o)
		} else {
			pl.Unaffected = append(pl.Unaffected, o)
		}
	}
	fmt.Fprintf(c.o.Log, "create: %d of the %d objects that only a changed header reaches may change; the others are not rebuilt\n", len(res.affected), len(pl.Reached)-res.unscanned)
	if budget := c.maxObjects(); len(objs) > budget {
		// A type the probes laid out otherwise is the reason, not
		// the budget: rebuilt, the objects would be refused for it.
		if re := relaidRefusal(res); re != nil {
			return nil, re
		}
		count, raise := fmt.Sprint(len(objs)), fmt.Sprintf("--max-objects %d", len(objs))
		if res.unscanned > 0 {
			count = fmt.Sprintf("at least %d", len(objs))
			raise = fmt.Sprintf("--max-objects above %d: %d objects were left unscanned", len(objs), res.unscanned)
		}
		return nil, fmt.Errorf("%w: the patch may change the code of %s objects this kernel builds (through %s)%s; the budget is %d: raise it (%s), or put the change in the .c files that need it", ErrTooManyObjects, count, strings.Join(headerNames(pl), ", "), mostlyBecause(res), budget, raise)
	}
	pl.Objects = objs
	return objs, nil
}

// buildPairs builds the planned objects before and after the patch into a
// scratch directory.
func (c *creation) buildPairs(ctx context.Context) error {
	var err error
	if c.scratch, err = os.MkdirTemp("", "ksplice-create-"); err != nil {
		return err
	}
	c.pairs, err = buildPairs(ctx, c.k, c.o.Patch, c.o.After, c.plan.Objects, c.plan.Goals, c.scan, c.scratch, filepath.Join(c.kmodSrc, "include"), c.res.Compilers, c.o.Log, c.clock.time)
	return err
}

// planCompilers decides which compiler makes the section builds
// (kbuild.PlanCompilers): the host's cross compiler only where the
// kernel's runs emulated (kbuild.Kernel.Toolchain), which is where it
// saves time.
func (c *creation) planCompilers(ctx context.Context) error {
	k := c.k
	exact := &kbuild.CompilerPlan{Running: k.Compiler, Section: k.Compiler}
	c.res.Compilers = exact
	switch {
	case k.Toolchain == "":
		exact.Note = "the kernel's compiler builds everything: it is the host's"
		return nil
	case c.o.ExactCompiler:
		exact.Note = "the kernel's compiler builds everything (exact compiler asked for)"
		return nil
	}
	cc, version, err := k.CrossCompiler(ctx)
	if err != nil {
		return err
	}
	p := kbuild.PlanCompilers(k.Compiler, cc, version)
	c.res.Compilers = &p
	return nil
}

func (c *creation) checkCompiler(context.Context) error {
	w, err := checkCompiler(c.k, c.res.Compilers, c.pairs, c.o.ForceCompiler)
	if w != "" {
		c.warn(w)
	}
	return err
}

// diff compares each pair and sorts what the update carries by target.
// Every refusal of every object is reported together.
func (c *creation) diff(context.Context) error {
	var refusals []Refusal
	var changed []string // carried functions, for a refusal to name
	dataTargets := map[string]bool{}
	used := map[string]bool{}
	c.byTarget = map[string][]patchgen.Object{}
	for _, p := range c.pairs {
		d, err := diffPair(p)
		if err != nil {
			return err
		}
		c.res.Diffs[p.Rel] = d
		c.authored(p.Rel, d.Authored)
		if len(d.Carry.Functions) > 0 || len(d.Refusals) > 0 {
			// Code changed: it must not have been compiled
			// against another layout of the running kernel's types.
			// Nor against other values of its enumerations'
			// constants.
			tr, ok, err := typeChanges(p.Pre, p.Post)
			if err != nil {
				return err
			}
			if !ok {
				c.warn(p.Rel + ": no debug information: the layouts and enumerations of its types were not compared")
			}
			for _, r := range tr {
				hint := "carry the fix without changing the type (a shadow variable for a new member: ksplice_shadow_*), or reboot into the release"
				if r.Rule == elfdiff.RuleEnumValue {
					hint = "keep the values of the constants that exist (add new ones after them), or reboot into the release"
				}
				refusals = append(refusals, Refusal{Object: p.Rel, Refusal: r, Hint: hint})
			}
		}
		if len(d.RunningMissing) > 0 || len(d.RunningOnly()) > 0 {
			// Inlining that differs between the two builds: only
			// what the update replaces needs a counterpart (patchgen
			// refuses one without), the rest is said here.
			fmt.Fprintf(c.o.Log, "create: %s: functions only in the section build: %s; only in the kernel's own build: %s\n",
				p.Rel, orNone(d.RunningMissing), orNone(d.RunningOnly()))
		}
		for _, r := range d.Refusals {
			if r.Rule == elfdiff.RuleExportChanged && c.o.KeepExports {
				c.warn(fmt.Sprintf("%s: the running kernel's exports stay as they are (--keep-exports): %s", p.Rel, exportChange(r)))
				continue
			}
			if r.Rule == elfdiff.RuleDataChanged && c.allowed[r.Symbol] {
				c.warn(fmt.Sprintf("%s: %s (%s): %s; allowed (--allow-data): the hooks must set it", p.Rel, elfdiff.Display(r.Symbol), r.Rule, r.Reason))
				dataTargets[p.Target] = true
				used[r.Symbol] = true
				continue
			}
			ref := Refusal{Object: p.Rel, Refusal: r}
			switch r.Rule {
			case elfdiff.RuleDataChanged:
				ref.Hint = "or write hooks that set it: --hooks FILE.c --allow-data " + r.Symbol
			case elfdiff.RuleExportChanged:
				ref.Hint = "or keep the running kernel's exports (--keep-exports): the modules it loads were built against them"
			}
			refusals = append(refusals, ref)
		}
		if len(d.Carry.Functions) > 0 {
			if err := c.checkDynamicStack(p, d); err != nil {
				return err
			}
			c.byTarget[p.Target] = append(c.byTarget[p.Target], patchgen.Object{Rel: p.Rel, Result: d})
			refusedHere := map[string]bool{}
			for _, r := range d.Refusals {
				if r.Rule != elfdiff.RuleExportChanged || !c.o.KeepExports {
					refusedHere[r.Symbol] = true
				}
			}
			for _, f := range d.Carry.Functions {
				if !refusedHere[f] {
					changed = append(changed, p.Rel+": "+f)
				}
			}
		}
	}
	if len(refusals) > 0 {
		return &RefusedError{Refusals: refusals, Changed: changed}
	}
	for _, a := range c.o.AllowData {
		if !used[a] {
			c.warn(fmt.Sprintf("--allow-data %s: the patch does not change it", a))
		}
	}
	if c.hooks != nil {
		var err error
		if c.hookTarget, err = chooseHookTarget(c.byTarget, dataTargets); err != nil {
			return err
		}
		if _, ok := c.byTarget[c.hookTarget]; !ok {
			c.byTarget[c.hookTarget] = nil
		}
	}
	if len(c.byTarget) == 0 {
		return fmt.Errorf("%w (%s)", ErrNoChanges, strings.Join(c.plan.Objects, ", "))
	}
	for t := range c.byTarget {
		c.targets = append(c.targets, t)
	}
	sort.Strings(c.targets)
	return nil
}

// checkDynamicStack returns an *exactAgain when the compiler plan wants
// new code without dynamic stack allocation (kbuild.CompilerPlan's
// NoDynamicStack) and a carried function of the pair has it.
func (c *creation) checkDynamicStack(p Pair, d *elfdiff.Result) error {
	if cp := c.res.Compilers; cp == nil || !cp.Cross || !cp.NoDynamicStack {
		return nil
	}
	if c.k.Arch != "arm64" {
		// The only known difference is AArch64's; elsewhere, no
		// guess: the kernel's compiler makes it.
		return &exactAgain{object: p.Rel, function: strings.Join(d.Carry.Functions, ", ")}
	}
	post, err := elfdiff.Open(p.Post)
	if err != nil {
		return fmt.Errorf("%s: %w", p.Rel, err)
	}
	carried := map[string]bool{}
	for _, f := range d.Carry.Functions {
		carried[f] = true
	}
	for _, f := range post.Functions {
		if !carried[f.Name] {
			continue
		}
		if _, ok := arch.DynamicStackARM64(f.Code); ok {
			return &exactAgain{object: p.Rel, function: f.Name}
		}
	}
	return nil
}

// authored says what the author macros of an object asked for that the
// update does not do as asked, or leaves out.
func (c *creation) authored(rel string, a *elfdiff.Authored) {
	if a == nil {
		return
	}
	for _, f := range a.Forced {
		c.warn(fmt.Sprintf("%s: KPATCH_FORCE_UNSAFE(%s) is not honoured: ksplice checks every stack, and applies only when no task is inside %s", rel, f, f))
	}
	for _, f := range a.IgnoredFunctions {
		fmt.Fprintf(c.o.Log, "create: %s: %s left out of the update (IGNORE_FUNCTION)\n", rel, f)
	}
	for _, s := range a.IgnoredSections {
		fmt.Fprintf(c.o.Log, "create: %s: section %s left out of the update (IGNORE_SECTION)\n", rel, s)
	}
}

// exportChange is what an export-changed refusal says the patch does
// ("adds EXPORT_SYMBOL(dev_warn_probe)").
func exportChange(r elfdiff.Refusal) string {
	what, _, _ := strings.Cut(strings.TrimPrefix(r.Reason, "the patch "), ":")
	return what
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func diffPair(p Pair) (*elfdiff.Result, error) {
	pre, err := elfdiff.Open(p.Pre)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Rel, err)
	}
	post, err := elfdiff.Open(p.Post)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Rel, err)
	}
	d, err := elfdiff.Diff(pre, post)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Rel, err)
	}
	if p.Running != "" {
		running, err := elfdiff.Open(p.Running)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.Rel, err)
		}
		if err := d.UseRunning(running); err != nil {
			return nil, fmt.Errorf("%s: %w", p.Rel, err)
		}
	}
	return d, nil
}

// generate writes the source of one update module per target, and starts
// the manifest.
func (c *creation) generate(ctx context.Context) error {
	k := c.k
	exported, err := updateExports(k.Headers, c.engine)
	if err != nil {
		return err
	}
	namespaces, err := patchgen.ReadSymverNamespaces(filepath.Join(k.Headers, "Module.symvers"))
	if err != nil {
		return fmt.Errorf("kernel exports: %w", err)
	}
	machine, err := machineOf(k.Arch)
	if err != nil {
		return err
	}
	desc := c.o.Description
	if desc == "" {
		desc = subject(c.o.Patch.Raw, c.o.PatchName)
	}
	id := c.res.ID
	c.manifest = &update.Manifest{
		ID: id, Description: desc, Created: c.o.Now().UTC().Truncate(time.Second), Tool: c.o.Tool,
		Kernel: update.Kernel{Release: k.Release, Machine: machine, Spec: k.Spec, Compiler: k.Compiler},
		Patch:  "patch.diff", Core: "ksplice.ko", Upgrade: c.o.Upgrade,
	}
	c.files["patch.diff"] = c.o.Patch.Raw
	if c.hooks != nil {
		// Kept for whoever audits the update: the hooks run in the kernel.
		c.files["hooks.c"] = c.hooks
		c.manifest.Hooks = "hooks.c"
	}
	for _, t := range c.targets {
		in := patchgen.Input{
			ID: id, EngineID: update.EngineID(id, len(c.targets), t), Description: desc, Target: t, Objects: c.byTarget[t],
			Exported:  func(s string) bool { return exported[s] },
			Namespace: func(s string) string { return namespaces[s] },
		}
		if t == c.hookTarget {
			in.Hooks = c.hooks
		}
		gm, err := patchgen.Generate(in)
		if err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		c.modules = append(c.modules, gm)
	}
	// What the engine finds by name must be in the running kernel: a
	// function only the patched headers declare is another change's
	// (net/sched/sch_api.c's fix in 6.1.190 calls qdisc_free_rcu(),
	// which its sch_generic.c makes global). The engine would reject
	// the update; refuse it now, saying why.
	var byName []string
	for _, m := range c.modules {
		byName = append(byName, m.ByName...)
	}
	if name, header, err := missingSymbol(ctx, k.Source, c.o.Patch, byName); err != nil {
		return err
	} else if name != "" {
		return fmt.Errorf("%w: the new code refers to %s, which only the patched %s declares (new, or inline before the patch): the running kernel does not have it, and the update does not add it; make one update with the change that defines it", ErrMissingSymbol, name, header)
	}
	return nil
}

// updateExports returns the symbols the module loader resolves for an
// update module: the kernel's exports (headers' Module.symvers) and the
// engine's (the shadow variable API; the update module is loaded after the
// engine and built against its Module.symvers, in engine).
func updateExports(headers, engine string) (map[string]bool, error) {
	exported, err := patchgen.ReadSymvers(filepath.Join(headers, "Module.symvers"))
	if err != nil {
		return nil, fmt.Errorf("kernel exports: %w", err)
	}
	own, err := patchgen.ReadSymvers(filepath.Join(engine, "Module.symvers"))
	if err != nil {
		return nil, fmt.Errorf("engine exports: %w", err)
	}
	for s := range own {
		exported[s] = true
	}
	return exported, nil
}

func (c *creation) buildEngine(ctx context.Context) error {
	var err error
	if c.engine, err = buildEngine(ctx, c.k, c.kmodSrc); err != nil {
		return err
	}
	c.files["ksplice.ko"], err = os.ReadFile(filepath.Join(c.engine, "ksplice.ko"))
	return err
}

// buildModules builds each update module with Kbuild and describes it in
// the manifest.
func (c *creation) buildModules(ctx context.Context) error {
	m := c.manifest
	for i, t := range c.targets {
		gm := c.modules[i]
		ko, err := buildUpdateModule(ctx, c.k, gm, filepath.Join(c.scratch, "module", t), c.kmodSrc, c.engine)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(ko)
		if err != nil {
			return err
		}
		vm, err := vermagic(b)
		if err != nil {
			return fmt.Errorf("%s: %w", filepath.Base(ko), err)
		}
		m.Kernel.Vermagic = vm
		name := gm.Name + ".ko"
		c.files[name] = b
		tgt := update.Target{Name: t, Module: name, Keep: gm.Keep}
		for _, obj := range c.byTarget[t] {
			tgt.Objects = append(tgt.Objects, obj.Rel)
			for _, side := range []string{"pre", "post"} {
				if c.files["objects/"+side+"/"+obj.Rel], err = os.ReadFile(filepath.Join(c.scratch, side, obj.Rel)); err != nil {
					return err
				}
			}
		}
		for _, f := range gm.Funcs {
			st := "new"
			if f.Replaced {
				st = "changed"
			}
			tgt.Functions = append(tgt.Functions, update.Function{Name: f.Name, Object: f.Object, Status: st, Method: f.Method, OldSize: f.OldSize, NewSize: f.NewSize})
		}
		m.Targets = append(m.Targets, tgt)
		fmt.Fprintf(c.o.Log, "create: %s: %d functions, module %s\n", t, len(tgt.Functions), name)
		for _, k := range gm.Keep {
			fmt.Fprintf(c.o.Log, "create: %s: module %s stays loaded after undo: %s\n", t, name, k)
		}
	}
	return nil
}

// signModules signs every module of the update, the engine too, with the
// kernel's own scripts/sign-file and the digest its modules use. It signs
// copies: the engine's build is cached unsigned for other updates.
func (c *creation) signModules(ctx context.Context) error {
	signer, err := modsig.Signer(c.o.ModuleSignCert)
	if err != nil {
		return fmt.Errorf("--module-sign-cert: %w", err)
	}
	tool, err := modsig.FindSignFile(c.k.Headers, c.k.Build)
	if err != nil {
		return err
	}
	hash, err := modsig.HashAlgo(c.k.Config)
	if err != nil {
		return err
	}
	names := []string{c.manifest.Core}
	for _, t := range c.manifest.Targets {
		names = append(names, t.Module)
	}
	for _, n := range names {
		if c.files[n], err = modsig.Sign(ctx, tool, hash, c.o.ModuleSignKey, c.o.ModuleSignCert, c.files[n]); err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	fmt.Fprintf(c.o.Log, "create: signed %d modules (%s, %s)\n", len(names), signer, hash)
	c.res.ModulesSignedBy = signer
	return nil
}

func (c *creation) write(context.Context) error {
	if err := writeTarball(c.res.Output, c.manifest, c.files, c.o.SignKey); err != nil {
		return err
	}
	if c.o.SignKey != nil {
		c.res.SignedBy = c.o.SignKey.ID()
	}
	c.res.Manifest = c.manifest
	return nil
}

// chooseHookTarget picks the target whose update module carries the
// hooks: vmlinux if the update has it, else its only target; an update that
// replaces no function takes the target of the data its hooks set.
func chooseHookTarget(byTarget map[string][]patchgen.Object, dataTargets map[string]bool) (string, error) {
	all := map[string]bool{}
	for t := range byTarget {
		all[t] = true
	}
	if len(all) == 0 {
		all = dataTargets
	}
	if all["vmlinux"] {
		return "vmlinux", nil
	}
	if len(all) == 1 {
		for t := range all {
			return t, nil
		}
	}
	if len(all) == 0 {
		return "", fmt.Errorf("%w: --hooks: the patch changes no function and no allowed data (--allow-data)", verdict.ErrRefused)
	}
	return "", fmt.Errorf("%w: --hooks: the update has several targets and none is vmlinux: the hooks would not know which module they run in", verdict.ErrRefused)
}

// DefaultMaxObjects bounds the objects one update rebuilds unless the user
// raises it (--max-objects): a header included everywhere takes hours to
// rebuild twice, and is often better fixed in the .c files that need the
// change.
const DefaultMaxObjects = 64

// DefaultMaxScan bounds the objects that include a changed header and are
// preprocessed to find which of them it may change, unless the user raises
// it (--max-scan): about half a second each on one core.
const DefaultMaxScan = 4096

// ErrTooManyObjects means the patch reaches more objects than the budget
// (Options.MaxObjects) allows.
var ErrTooManyObjects = fmt.Errorf("%w: too many objects to rebuild", verdict.ErrRefused)

// configured keeps the objects the kernel's configuration builds (Kbuild
// compiles any object it is asked for, so it must be asked from the
// Kbuild files themselves), and bounds their number.
//
// A changed .c file that no Kbuild file builds may be #included by one
// that is (kernel/sched/rt.c and deadline.c by build_policy.c, psi.c by
// build_utility.c): its includers are rebuilt instead, found as a header's
// are, and the plan lists them under Headers.
//
// narrow, if not nil, returns which of the objects that only changed
// headers reach may change and must be scanned; the others are
// Unaffected. If it says later (a header's types are read by a witness
// once the trees are made), the scan's budget is checked then
// (scanBudget), not here.
func configured(ctx context.Context, k *kbuild.Kernel, r *kbuild.Resolver, pl *Plan, includers func(string) ([]string, error), narrow func(reached []string) (kept []string, later bool, err error), maxObjects, maxScan int, log io.Writer) error {
	if maxObjects <= 0 {
		maxObjects = DefaultMaxObjects
	}
	if maxScan <= 0 {
		maxScan = DefaultMaxScan
	}
	if r == nil {
		r = kbuild.NewResolver(kbuild.Tree{Source: k.Source, Build: k.Build, MakeVars: k.MakeVars}, k.SrcArch())
		defer r.Close()
	}
	// Sets, not lists: a header may reach thousands of objects.
	inBuilt := map[string]bool{}
	isBuilt := func(obj string) (bool, error) {
		p, err := r.Place(ctx, obj)
		switch {
		case errors.Is(err, kbuild.ErrNotConfigured):
			return false, nil
		case err != nil:
			return false, err
		}
		if p.Goal != obj {
			if pl.Goals == nil {
				pl.Goals = map[string]string{}
			}
			pl.Goals[obj] = p.Goal
		}
		return true, nil
	}
	for _, obj := range pl.Objects {
		ok, err := isBuilt(obj)
		if err != nil {
			return err
		}
		if ok {
			inBuilt[obj] = true
			continue
		}
		src := strings.TrimSuffix(obj, ".o") + ".c"
		if !slices.Contains(pl.Sources, src) {
			pl.NotBuilt = append(pl.NotBuilt, obj)
			continue
		}
		users, err := includers(src)
		if err != nil {
			return err
		}
		var via []string
		for _, u := range users {
			o := strings.TrimSuffix(u, ".c") + ".o"
			if inBuilt[o] {
				via = append(via, o)
				continue
			}
			if ok, err := isBuilt(o); err != nil {
				return err
			} else if ok {
				inBuilt[o] = true
				via = append(via, o)
			}
		}
		if len(via) == 0 {
			pl.NotBuilt = append(pl.NotBuilt, obj)
			continue
		}
		pl.Headers[src] = via
		fmt.Fprintf(log, "create: %s is not built on its own; %s includes it\n", src, strings.Join(via, ", "))
	}
	// A changed .c file built on its own may also be #included by
	// another object (arch/x86/entry/vdso/vdso32/vclock_gettime.c
	// includes ../vclock_gettime.c): that one changes too.
	for _, src := range pl.Sources {
		obj := strings.TrimSuffix(src, ".c") + ".o"
		if !inBuilt[obj] {
			continue // not built on its own: its includers are above
		}
		users, err := includers(src)
		if err != nil {
			return err
		}
		for _, u := range users {
			o := strings.TrimSuffix(u, ".c") + ".o"
			if o == obj || !strings.HasSuffix(u, ".c") {
				continue
			}
			if !inBuilt[o] {
				ok, err := isBuilt(o)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
				inBuilt[o] = true
			}
			pl.Headers[src] = append(pl.Headers[src], o)
			fmt.Fprintf(log, "create: %s is also included by %s\n", src, o)
		}
	}
	built := slices.Sorted(maps.Keys(inBuilt))
	notBuilt := map[string]bool{}
	for _, o := range pl.NotBuilt {
		notBuilt[o] = true
	}
	for h, users := range pl.Headers {
		if strings.HasSuffix(h, ".c") {
			continue // said above
		}
		n := 0
		for _, u := range users {
			if !notBuilt[u] {
				n++
			}
		}
		fmt.Fprintf(log, "create: %s is included by %d objects, %d of them built by this kernel's configuration\n", h, len(users), n)
	}
	if len(built) == 0 {
		return fmt.Errorf("%w: %s: not built by this kernel's configuration; nothing to update", verdict.ErrRefused, strings.Join(pl.NotBuilt, ", "))
	}
	// The objects of the changed .c files are rebuilt; those that only a
	// changed header reaches are first scanned for whether it changes
	// their code (creation.scan).
	own := map[string]bool{}
	for _, src := range pl.Sources {
		own[strings.TrimSuffix(src, ".c")+".o"] = true
		for _, o := range pl.Headers[src] {
			own[o] = true
		}
	}
	var reached []string
	nOwn := 0
	for _, o := range built {
		if own[o] {
			nOwn++
		} else {
			reached = append(reached, o)
		}
	}
	if nOwn > maxObjects {
		return fmt.Errorf("%w: the patch changes the sources of %d objects this kernel builds; the budget is %d: raise it (--max-objects %d)", ErrTooManyObjects, nOwn, maxObjects, nOwn)
	}
	pl.Objects, pl.Reached = built, reached
	// Of the objects only headers reach, those that cannot name what
	// changed are not scanned (byName).
	later := false
	if narrow != nil && len(reached) > 0 {
		kept, l, err := narrow(reached)
		if err != nil {
			return err
		}
		pl.narrow(kept)
		later = l
	}
	if later {
		return nil // checked once the rest is narrowed
	}
	return scanBudget(pl, maxScan)
}

// narrow keeps, of the objects only headers reach, those of kept: the
// others are unaffected.
func (pl *Plan) narrow(kept []string) {
	if len(kept) == len(pl.Reached) {
		return
	}
	keep, reached := map[string]bool{}, map[string]bool{}
	for _, o := range kept {
		keep[o] = true
	}
	for _, o := range pl.Reached {
		reached[o] = true
	}
	var objs []string
	for _, o := range pl.Objects {
		if !reached[o] || keep[o] {
			objs = append(objs, o)
		} else {
			pl.Unaffected = append(pl.Unaffected, o)
		}
	}
	pl.Objects, pl.Reached = objs, kept
}

// scanBudget refuses a plan whose objects only headers reach are more
// than maxScan (DefaultMaxScan if 0).
func scanBudget(pl *Plan, maxScan int) error {
	if maxScan <= 0 {
		maxScan = DefaultMaxScan
	}
	if len(pl.Reached) > maxScan {
		return fmt.Errorf("%w: the patch reaches %d objects this kernel builds (through %s); finding which of them it changes preprocesses each, and the budget is %d: raise it (--max-scan %d), or put the change in the .c files that need it", ErrTooManyObjects, len(pl.Reached), strings.Join(headerNames(pl), ", "), maxScan, len(pl.Reached))
	}
	return nil
}

// relaidRefusal refuses, struct-layout, each type whose layout the scan's
// probes measured otherwise after the patch where objects' code uses it;
// nil if there is none.
func relaidRefusal(res *scanResult) error {
	users := map[string][]string{}
	for o, typ := range res.relaid {
		users[typ] = append(users[typ], o)
	}
	if len(users) == 0 {
		return nil
	}
	re := &RefusedError{}
	for _, typ := range slices.Sorted(maps.Keys(users)) {
		objs := users[typ]
		sort.Strings(objs)
		re.Refusals = append(re.Refusals, Refusal{
			Object: objs[0],
			Refusal: elfdiff.Refusal{Symbol: typ, Rule: elfdiff.RuleStructLayout,
				Reason: fmt.Sprintf("the layout of %s changes (a probe of it compiled before and after the patch) and the code of %d objects that include the changed headers uses it: the running kernel's objects of that type keep the old one, which new code would misread", typ, len(objs))},
			Hint: "carry the fix without changing the type (a shadow variable for a new member: ksplice_shadow_*), or reboot into the release",
		})
	}
	return re
}

// mostlyBecause says what most of the affected objects use that changed
// (", 340 of them because struct devlink_port changes"), or "".
func mostlyBecause(res *scanResult) string {
	count := map[string]int{}
	for _, o := range res.affected {
		// "dst_dev_rcu changes (...)", "struct x changes its layout (...)"
		what, _, ok := strings.Cut(res.reasons[o], " changes")
		if ok && (!strings.Contains(what, " ") || strings.HasPrefix(what, "struct ") || strings.HasPrefix(what, "union ")) {
			count[what]++
		}
	}
	best, n := "", 0
	for what, c := range count {
		if c > n || c == n && what < best {
			best, n = what, c
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d of them because %s changes", n, best)
}

func headerNames(pl *Plan) []string {
	var hs []string
	for h := range pl.Headers {
		hs = append(hs, h)
	}
	sort.Strings(hs)
	if len(hs) == 0 {
		return []string{"its .c files"}
	}
	return hs
}

// Refusal is a refusal of the diff of one object.
type Refusal struct {
	Object string `json:"object"` // the object, such as "fs/proc/cmdline.o"
	elfdiff.Refusal
	Hint string `json:"hint,omitempty"` // what else the author can do
}

func (r Refusal) Error() string {
	msg := r.Object + ": " + r.Refusal.Error()
	if r.Hint != "" {
		msg += " (" + r.Hint + ")"
	}
	return msg
}

// Unwrap returns the elfdiff refusal, which unwraps to its rule's sentinel.
func (r Refusal) Unwrap() error { return r.Refusal }

// RefusedError lists every refusal of every object of the patch. It
// unwraps to verdict.ErrRefused and to each Refusal, so that
// errors.Is(err, elfdiff.ErrDataChanged) tells whether data changed.
type RefusedError struct {
	Refusals []Refusal
	// Changed are the functions, none of them refused, that the update
	// would have carried ("fs/proc/cmdline.o: cmdline_proc_show"):
	// a refusal of init code alone leaves nothing to do, one beside
	// changed code that runs after boot does not.
	Changed []string
}

func (e *RefusedError) Error() string {
	lines := make([]string, len(e.Refusals))
	for i, r := range e.Refusals {
		lines[i] = r.Error()
	}
	msg := "update refused:\n  " + strings.Join(lines, "\n  ")
	if len(e.Changed) > 0 {
		msg += "\n  the patch also changes, and the update would carry: " + strings.Join(e.Changed, ", ")
	}
	return msg
}

func (e *RefusedError) Unwrap() []error {
	errs := []error{verdict.ErrRefused}
	for _, r := range e.Refusals {
		errs = append(errs, r)
	}
	return errs
}

// writeTarball writes the update beside its final name and renames it into
// place, so that a failed create never leaves a partial tarball.
func writeTarball(out string, m *update.Manifest, files map[string][]byte, key *sign.PrivateKey) error {
	t, err := renameio.NewPendingFile(out, renameio.WithPermissions(0o644))
	if err != nil {
		return err
	}
	defer t.Cleanup()
	if key != nil {
		err = update.WriteSigned(t, m, files, *key)
	} else {
		err = update.Write(t, m, files)
	}
	if err != nil {
		return err
	}
	return t.CloseAtomicallyReplace()
}

var nonID = regexp.MustCompile(`[^a-z0-9]+`)

// deriveID makes an id from the patch file's name and content.
func deriveID(name string, raw []byte) string {
	base := strings.ToLower(strings.TrimSuffix(filepath.Base(name), filepath.Ext(name)))
	base = strings.Trim(nonID.ReplaceAllString(base, "_"), "_")
	if len(base) > 22 {
		base = strings.TrimRight(base[:22], "_")
	}
	sum := sha256.Sum256(raw)
	if base == "" || base[0] == '_' {
		return "u" + hex.EncodeToString(sum[:])[:8]
	}
	return base + "_" + hex.EncodeToString(sum[:])[:8]
}

// subject returns the patch's Subject: line without "[PATCH]", else its
// file name.
func subject(raw []byte, name string) string {
	for _, l := range strings.Split(string(raw), "\n") {
		if s, ok := strings.CutPrefix(l, "Subject:"); ok {
			s = strings.TrimSpace(s)
			if strings.HasPrefix(s, "[") {
				if i := strings.Index(s, "]"); i > 0 {
					s = strings.TrimSpace(s[i+1:])
				}
			}
			return s
		}
		if strings.HasPrefix(l, "diff ") || strings.HasPrefix(l, "--- ") {
			break
		}
	}
	return filepath.Base(name)
}

// machineOf is the uname -m of a Debian architecture.
func machineOf(debArch string) (string, error) {
	a, err := arch.ByName(debArch)
	if err != nil {
		return "", err
	}
	return a.Uname, nil
}

// checkCompiler compares the compiler recorded in each object with the one
// that was to make it (cp): the running build's with the kernel's, the
// section builds' with cp.Section.
func checkCompiler(k *kbuild.Kernel, cp *kbuild.CompilerPlan, pairs []Pair, force bool) (string, error) {
	for _, p := range pairs {
		objs := []struct{ path, text string }{{p.Pre, cp.Section}, {p.Post, cp.Section}, {p.Running, k.Compiler}}
		for _, o := range objs {
			if o.path == "" {
				continue
			}
			got, err := objectCompiler(o.path)
			if err != nil {
				return "", err
			}
			if got == versionOnly(o.text) {
				continue
			}
			msg := fmt.Sprintf("%s was compiled by %q, the kernel by %q", p.Rel, got, k.Compiler)
			if o.text != k.Compiler {
				msg = fmt.Sprintf("%s was compiled by %q, not by %q", p.Rel, got, o.text)
			}
			if force {
				return msg + " (--force-compiler)", nil
			}
			return "", fmt.Errorf("%w: %s; install the kernel's compiler, or --force-compiler", ErrCompiler, msg)
		}
	}
	return "", nil
}

// versionOnly drops the program name of a compiler's version line: "(Debian
// 12.2.0-14+deb12u1) 12.2.0", what objects record in .comment.
func versionOnly(text string) string {
	if i := strings.Index(text, " "); i > 0 {
		return text[i+1:]
	}
	return text
}

// objectCompiler reads the compiler an object records in .comment.
func objectCompiler(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sec := f.Section(".comment")
	var got string
	if sec != nil {
		b, _ := sec.Data()
		for _, s := range bytes.Split(b, []byte{0}) {
			if bytes.HasPrefix(s, []byte("GCC: ")) {
				got = strings.TrimPrefix(string(s), "GCC: ")
			}
		}
	}
	return got, nil
}

// vermagic reads the vermagic= entry of a module's .modinfo.
func vermagic(ko []byte) (string, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return "", err
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return "", errors.New("no .modinfo")
	}
	b, err := sec.Data()
	if err != nil {
		return "", err
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, []byte("vermagic=")); ok {
			return string(v), nil
		}
	}
	return "", errors.New("no vermagic in .modinfo")
}
