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
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/elfdiff"
	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/patchgen"
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
	// Hooks is the author's hook file (kernel C, see patchgen.HookNames),
	// compiled into the update module of vmlinux or of the only target.
	Hooks string
	// AllowData names data objects whose changed initializers the update
	// may leave to the hooks: elfdiff's "data-changed" refusal of them
	// becomes a warning. Only with Hooks.
	AllowData []string
	Tool      string    // "ksplice VERSION", recorded in the manifest
	Log       io.Writer // progress lines
	Now       func() time.Time
}

// Stage is one timed step of Create.
type Stage struct {
	Name   string `json:"name"`
	Millis int64  `json:"ms"`
}

// Result is what Create made.
type Result struct {
	ID       string                     `json:"id"`
	Output   string                     `json:"output"`
	Manifest *update.Manifest           `json:"manifest"`
	Plan     *Plan                      `json:"plan"`
	Stages   []Stage                    `json:"stages"`
	Warnings []string                   `json:"warnings,omitempty"`
	Diffs    map[string]*elfdiff.Result `json:"-"`
}

// Create builds the update. Refusals wrap verdict.ErrRefused and name what
// was refused and why; nothing is left behind on any error.
func Create(ctx context.Context, o Options) (*Result, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(o.AllowData) > 0 && o.Hooks == "" {
		return nil, fmt.Errorf("%w: --allow-data %s: the running kernel keeps the old value of changed data; add hooks (--hooks FILE.c) that set the new value in post_apply and restore it in post_reverse", verdict.ErrRefused, strings.Join(o.AllowData, ", "))
	}
	var hooks []byte
	if o.Hooks != "" {
		var err error
		if hooks, err = os.ReadFile(o.Hooks); err != nil {
			return nil, fmt.Errorf("hooks: %w", err)
		}
	}
	allowed := map[string]bool{}
	for _, s := range o.AllowData {
		allowed[s] = true
	}
	k := o.Kernel
	res := &Result{Diffs: map[string]*elfdiff.Result{}}
	timed := func(name string, fn func() error) error {
		start := time.Now()
		fmt.Fprintf(o.Log, "create: %s\n", stageTitle[name])
		err := fn()
		res.Stages = append(res.Stages, Stage{Name: name, Millis: time.Since(start).Milliseconds()})
		return err
	}

	id := o.ID
	if id == "" {
		id = deriveID(o.PatchName, o.Patch.Raw)
	}
	if !update.ValidID(id) {
		return nil, fmt.Errorf("update id %q: use at most 32 lower-case letters, digits and '_'", id)
	}
	res.ID = id
	desc := o.Description
	if desc == "" {
		desc = subject(o.Patch.Raw, o.PatchName)
	}
	out := o.Output
	if out == "" {
		out = "ksplice-" + id + ".tar"
	}
	res.Output = out
	kmodSrc, err := FindKmodSrc(o.KmodSrc)
	if err != nil {
		return nil, err
	}

	for _, a := range o.After {
		if err := a.Resolve(k.Source); err != nil {
			return nil, fmt.Errorf("earlier patch (--after): %w", err)
		}
	}
	if err := o.Patch.Resolve(k.Source); err != nil {
		return nil, err
	}
	var idx includeIndex
	headerUsers := func(h string) ([]string, error) {
		if idx == nil {
			fmt.Fprintf(o.Log, "create: %s changes: finding what includes it\n", h)
			var err error
			if idx, err = loadIncludeIndex(k.Dir, k.Source); err != nil {
				return nil, err
			}
		}
		return idx.includers(h, k.SrcArch()), nil
	}
	pl, err := plan(o.Patch.Changes, headerUsers)
	if err != nil {
		return nil, err
	}
	res.Plan = pl
	if err := configured(ctx, k, pl, o.Log); err != nil {
		return nil, err
	}

	scratch, err := os.MkdirTemp("", "ksplice-create-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)

	pairs, err := buildPairs(ctx, k, o.Patch, o.After, pl.Objects, scratch, o.Log, timed)
	if err != nil {
		return nil, err
	}
	if w, err := checkCompiler(k, pairs, o.ForceCompiler); err != nil {
		return nil, err
	} else if w != "" {
		fmt.Fprintf(o.Log, "create: warning: %s\n", w)
		res.Warnings = append(res.Warnings, w)
	}

	byTarget := map[string][]patchgen.Object{}
	var hookTarget string
	err = timed("diff", func() error {
		var refusals []string
		dataTargets := map[string]bool{}
		used := map[string]bool{}
		for _, p := range pairs {
			pre, err := elfdiff.Open(p.Pre)
			if err != nil {
				return fmt.Errorf("%s: %w", p.Rel, err)
			}
			post, err := elfdiff.Open(p.Post)
			if err != nil {
				return fmt.Errorf("%s: %w", p.Rel, err)
			}
			d, err := elfdiff.Diff(pre, post)
			if err != nil {
				return fmt.Errorf("%s: %w", p.Rel, err)
			}
			res.Diffs[p.Rel] = d
			for _, r := range d.Refusals {
				if r.Rule == "data-changed" && allowed[r.Symbol] {
					w := fmt.Sprintf("%s: %s (%s): %s; allowed (--allow-data): the hooks must set it", p.Rel, r.Symbol, r.Rule, r.Reason)
					fmt.Fprintf(o.Log, "create: warning: %s\n", w)
					res.Warnings = append(res.Warnings, w)
					dataTargets[p.Target] = true
					used[r.Symbol] = true
					continue
				}
				reason := r.Reason
				if r.Rule == "data-changed" {
					reason += " (or write hooks that set it: --hooks FILE.c --allow-data " + r.Symbol + ")"
				}
				refusals = append(refusals, fmt.Sprintf("%s: %s (%s): %s", p.Rel, r.Symbol, r.Rule, reason))
			}
			if len(d.Carry.Functions) > 0 {
				byTarget[p.Target] = append(byTarget[p.Target], patchgen.Object{Rel: p.Rel, Result: d})
			}
		}
		if len(refusals) > 0 {
			return &RefusedError{Reasons: refusals}
		}
		for _, a := range o.AllowData {
			if !used[a] {
				w := fmt.Sprintf("--allow-data %s: the patch does not change it", a)
				fmt.Fprintf(o.Log, "create: warning: %s\n", w)
				res.Warnings = append(res.Warnings, w)
			}
		}
		if hooks != nil {
			var err error
			if hookTarget, err = chooseHookTarget(byTarget, dataTargets); err != nil {
				return err
			}
			if _, ok := byTarget[hookTarget]; !ok {
				byTarget[hookTarget] = nil
			}
		}
		if len(byTarget) == 0 {
			return fmt.Errorf("%w (%s)", ErrNoChanges, strings.Join(pl.Objects, ", "))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	exported, err := patchgen.ReadSymvers(filepath.Join(k.Headers, "Module.symvers"))
	if err != nil {
		return nil, fmt.Errorf("kernel exports: %w", err)
	}
	machine, err := machineOf(k.Arch)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	m := &update.Manifest{
		ID: id, Description: desc, Created: o.Now().UTC().Truncate(time.Second), Tool: o.Tool,
		Kernel: update.Kernel{Release: k.Release, Machine: machine, Spec: k.Spec, Compiler: k.Compiler},
		Patch:  "patch.diff", Core: "ksplice.ko",
	}
	files["patch.diff"] = o.Patch.Raw
	if hooks != nil {
		// Kept for whoever audits the update: the hooks run in the kernel.
		files["hooks.c"] = hooks
		m.Hooks = "hooks.c"
	}

	var engine string
	err = timed("build-engine", func() error {
		var err error
		engine, err = buildEngine(ctx, k, kmodSrc)
		return err
	})
	if err != nil {
		return nil, err
	}
	if files["ksplice.ko"], err = os.ReadFile(filepath.Join(engine, "ksplice.ko")); err != nil {
		return nil, err
	}

	targets := make([]string, 0, len(byTarget))
	for t := range byTarget {
		targets = append(targets, t)
	}
	sort.Strings(targets)
	err = timed("build-module", func() error {
		for _, t := range targets {
			in := patchgen.Input{
				ID: id, EngineID: update.EngineID(id, len(targets), t), Description: desc, Target: t, Objects: byTarget[t],
				Exported: func(s string) bool { return exported[s] },
			}
			if t == hookTarget {
				in.Hooks = hooks
			}
			gm, err := patchgen.Generate(in)
			if err != nil {
				return err
			}
			dir := filepath.Join(scratch, "module", t)
			ko, err := buildUpdateModule(ctx, k, gm, dir, kmodSrc, engine)
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
			files[name] = b
			tgt := update.Target{Name: t, Module: name}
			for _, obj := range byTarget[t] {
				tgt.Objects = append(tgt.Objects, obj.Rel)
				files["objects/pre/"+obj.Rel], _ = os.ReadFile(filepath.Join(scratch, "pre", obj.Rel))
				files["objects/post/"+obj.Rel], _ = os.ReadFile(filepath.Join(scratch, "post", obj.Rel))
			}
			for _, f := range gm.Funcs {
				st := "new"
				if f.Replaced {
					st = "changed"
				}
				tgt.Functions = append(tgt.Functions, update.Function{Name: f.Name, Object: f.Object, Status: st, OldSize: f.OldSize, NewSize: f.NewSize})
			}
			m.Targets = append(m.Targets, tgt)
			fmt.Fprintf(o.Log, "create: %s: %d functions, module %s\n", t, len(tgt.Functions), name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	err = timed("write", func() error { return writeTarball(out, m, files) })
	if err != nil {
		return nil, err
	}
	res.Manifest = m
	return res, nil
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

var stageTitle = map[string]string{
	"apply-base":   "applying the earlier patches (--after) to a scratch tree",
	"build-pre":    "building the touched objects before the patch",
	"apply-patch":  "applying the patch to a scratch tree",
	"build-post":   "building the touched objects after the patch",
	"diff":         "comparing the objects",
	"build-engine": "building the engine module (cached per kernel)",
	"build-module": "generating and building the update module",
	"write":        "writing the update",
}

// MaxObjects bounds the objects one update rebuilds: a header included
// everywhere would take hours to rebuild twice, and is better fixed in the
// .c files that need the change.
const MaxObjects = 64

// configured keeps the objects the kernel's configuration builds (Kbuild
// compiles any object it is asked for, so it must be asked from the
// Kbuild files themselves), and bounds their number.
func configured(ctx context.Context, k *kbuild.Kernel, pl *Plan, log io.Writer) error {
	r := kbuild.NewResolver(kbuild.Tree{Source: k.Source, Build: k.Build, MakeVars: k.MakeVars}, k.SrcArch())
	defer r.Close()
	var built []string
	for _, obj := range pl.Objects {
		_, err := r.Where(ctx, obj)
		switch {
		case errors.Is(err, kbuild.ErrNotConfigured):
			pl.NotBuilt = append(pl.NotBuilt, obj)
		case err != nil:
			return err
		default:
			built = append(built, obj)
		}
	}
	for h, users := range pl.Headers {
		n := 0
		for _, u := range users {
			if !slices.Contains(pl.NotBuilt, u) {
				n++
			}
		}
		fmt.Fprintf(log, "create: %s is included by %d objects, %d of them built by this kernel's configuration\n", h, len(users), n)
	}
	if len(built) == 0 {
		return fmt.Errorf("%w: %s: not built by this kernel's configuration; nothing to update", verdict.ErrRefused, strings.Join(pl.NotBuilt, ", "))
	}
	if len(built) > MaxObjects {
		return fmt.Errorf("%w: the patch reaches %d objects this kernel builds (through %s); an update rebuilds at most %d: put the change in the .c files that need it", verdict.ErrRefused, len(built), strings.Join(headerNames(pl), ", "), MaxObjects)
	}
	pl.Objects = built
	return nil
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

// RefusedError lists every reason the diff refused the patch.
type RefusedError struct {
	Reasons []string
}

func (e *RefusedError) Error() string {
	return "update refused:\n  " + strings.Join(e.Reasons, "\n  ")
}

func (e *RefusedError) Unwrap() error { return verdict.ErrRefused }

// writeTarball writes the update beside its final name and renames it into
// place, so that a failed create never leaves a partial tarball.
func writeTarball(out string, m *update.Manifest, files map[string][]byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(out), ".ksplice-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := update.Write(tmp, m, files); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
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

// checkCompiler compares the compiler recorded in the pre objects with the
// one the kernel was built with.
func checkCompiler(k *kbuild.Kernel, pairs []Pair, force bool) (string, error) {
	want := k.Compiler
	if i := strings.Index(want, " "); i > 0 {
		want = want[i+1:] // drop the program name: "(Debian 12.2.0-14+deb12u1) 12.2.0"
	}
	for _, p := range pairs {
		f, err := elf.Open(p.Pre)
		if err != nil {
			return "", err
		}
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
		f.Close()
		if got != want {
			msg := fmt.Sprintf("%s was compiled by %q, the kernel by %q", p.Rel, got, k.Compiler)
			if force {
				return msg + " (--force-compiler)", nil
			}
			return "", fmt.Errorf("%w: %s; install the kernel's compiler, or --force-compiler", ErrCompiler, msg)
		}
	}
	return "", nil
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
