package create

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/run"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// Pair is one object built before and after the patch.
type Pair struct {
	Rel       string // "fs/proc/cmdline.o"
	Pre, Post string // copies in the scratch directory
	// Running is the pre-patch object built with the kernel's own flags
	// (kbuild.Tree.Native), whose code is the running kernel's: where
	// run-pre's old code comes from. "" when there is none (--after: the
	// old code of an update stacked on another is that update's new
	// code, built with section flags).
	Running string
	Target  string // "vmlinux" or a module name
	Cmd     string // the compiler command Kbuild recorded (pre)
}

// workspace is the kernel's persistent post-patch build area: post/src, a
// tree of hard links to the pristine source into which each update's patch
// is applied (and taken out again by the next), and post/build, an O= tree whose host tools (objtool,
// resolve_btfids) are built once and kept, since Kbuild rebuilds them in a
// tree it has not seen (seconds per update). The pristine source and build
// trees are never written, except that pre-patch objects are built into
// the kernel's build tree, where they are valid as long as the source is.
// All of it is used under the kernel's lock.
type workspace struct {
	k       *kbuild.Kernel
	src     string
	objs    string
	include string // author headers (kbuild.Tree.Include)
	// section is the pristine tree the section builds are made in and
	// objs is copied from: the kernel's own, or its cross tree
	// (kbuild.Kernel.CrossTree) when another compiler makes them.
	section kbuild.Tree
}

// newWorkspace returns the workspace called name: "post" for the patched
// tree, "base" for the tree with the patches of earlier updates (--after).
// section is the kernel's tree its builds are made like: the kernel's
// (build/) or its cross tree (build-cross/, whose copies are named so too).
func newWorkspace(k *kbuild.Kernel, name string, section kbuild.Tree) *workspace {
	objs := filepath.Join(k.Dir, name, filepath.Base(section.Build))
	if section.Build == k.Build {
		objs = filepath.Join(k.Dir, name, "build")
	}
	return &workspace{k: k, src: filepath.Join(k.Dir, name, "src"), objs: objs, section: section}
}

func (w *workspace) preTree() kbuild.Tree {
	return kbuild.Tree{Source: w.k.Source, Build: w.section.Build, MakeVars: w.section.MakeVars, Include: w.include, Goals: w.section.Goals}
}

func (w *workspace) postTree() kbuild.Tree {
	return kbuild.Tree{Source: w.src, Build: w.objs, MakeVars: w.section.MakeVars, Include: w.include, Goals: w.section.Goals}
}

// touchedRecord lists, in post/src, the files the last patch may have
// changed; it is written before a patch is applied, so that the next reset
// knows what to restore even if this one was interrupted.
const touchedRecord = ".ksplice-touched"

// reset makes post/src a copy of the pristine source again, ready for a
// patch touching files: the first time (or when in doubt) a fresh tree of
// hard links (cp -al, a second or more for the 70,000 files), later by
// restoring only the files the previous patch touched.
func (w *workspace) reset(ctx context.Context, files []string) error {
	if err := w.restore(); err != nil {
		if err := os.RemoveAll(w.src); err != nil {
			return fmt.Errorf("reset scratch tree: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(w.src), 0o755); err != nil {
			return err
		}
		if err := run.New("cp", "-al", w.k.Source, w.src).Run(ctx); err != nil {
			os.RemoveAll(w.src)
			return fmt.Errorf("make scratch tree: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(w.src, touchedRecord), []byte(strings.Join(files, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(w.objs, ".config")); err != nil {
		os.RemoveAll(w.objs)
		if err := run.New("cp", "-a", w.section.Build, w.objs).Run(ctx); err != nil {
			os.RemoveAll(w.objs)
			return fmt.Errorf("make scratch build tree: %w", err)
		}
	}
	return nil
}

// restore puts back the pristine version of every file the last patch
// touched: a hard link to the pristine file, or nothing if the pristine
// tree has no such file. Any doubt is an error, and the caller starts over.
func (w *workspace) restore() error {
	b, err := os.ReadFile(filepath.Join(w.src, touchedRecord))
	if err != nil {
		return err
	}
	for _, rel := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if rel == "" {
			continue
		}
		if filepath.IsAbs(rel) || strings.HasPrefix(filepath.Clean(rel), "..") {
			return fmt.Errorf("bad entry %q in %s", rel, touchedRecord)
		}
		dst := filepath.Join(w.src, rel)
		if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		src := filepath.Join(w.k.Source, rel)
		if _, err := os.Lstat(src); errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.Link(src, dst); err != nil {
			return err
		}
	}
	return nil
}

// prepare resets the workspace and applies patches to it in order.
func (w *workspace) prepare(ctx context.Context, patches []*srcpatch.Patch) error {
	var files []string
	for _, p := range patches {
		for _, c := range p.Changes {
			files = append(files, c.Old, c.New)
		}
	}
	if err := w.reset(ctx, files); err != nil {
		return err
	}
	for _, p := range patches {
		if err := p.Apply(ctx, w.src); err != nil {
			return err
		}
	}
	return nil
}

// buildPairs builds objs before and after the patch and copies them into
// dir/pre and dir/post. With earlier patches (the updates this one stacks
// on), "before" is the tree with those applied.
//
// include, if not "", holds the headers for patch authors (kmod-src/include):
// they are copied to a fixed place of the kernel's cache and put on the
// include path of both builds. The place never moves, so the command lines
// of the kept pre-patch objects stay the same from one update to the next.
//
// cp says which compiler makes the section builds (pre and post); the
// running build is always made by the kernel's. A cross tree whose
// configuration is not the kernel's turns the split off: cp is updated and
// its Note says why.
func buildPairs(ctx context.Context, k *kbuild.Kernel, p *srcpatch.Patch, after []*srcpatch.Patch, objs []string, goals map[string]string, filter func(ctx context.Context, pre, post kbuild.Tree) ([]string, error), dir, include string, cp *kbuild.CompilerPlan, log io.Writer, timed func(string, func() error) error) ([]Pair, error) {
	unlock, err := k.Lock(func() { fmt.Fprintf(log, "create: waiting for another ksplice using %s\n", k.Spec) })
	if err != nil {
		return nil, err
	}
	defer unlock()
	section := kernelTree(k)
	if cp.Cross {
		err := timed("prepare-cross", func() error {
			t, err := k.CrossTree(ctx, cp.CrossCC)
			section = t
			return err
		})
		switch {
		case errors.Is(err, kbuild.ErrCrossConfig):
			*cp = kbuild.CompilerPlan{Running: cp.Running, Section: cp.Running, Note: "the kernel's compiler builds everything: " + err.Error()}
			section = kernelTree(k)
		case err != nil:
			return nil, err
		}
	}
	fmt.Fprintf(log, "create: compilers: %s\n", cp.Note)
	section.Goals = goals
	post := newWorkspace(k, "post", section)
	if include != "" {
		if post.include, err = copyAuthorHeaders(include, filepath.Join(k.Dir, "author-include")); err != nil {
			return nil, fmt.Errorf("author headers: %w", err)
		}
	}
	preTree := post.preTree()
	if len(after) > 0 {
		base := newWorkspace(k, "base", section)
		base.include = post.include
		err = timed("apply-base", func() error { return base.prepare(ctx, after) })
		if err != nil {
			return nil, fmt.Errorf("earlier patches (--after): %w", err)
		}
		preTree = base.postTree()
		if err := preTree.Remove(objs); err != nil {
			return nil, err
		}
	}

	// The trees first, one at a time: making one copies the kernel's
	// build tree, which no build may be writing meanwhile.
	var runTree kbuild.Tree
	if len(after) == 0 {
		err := timed("prepare-running", func() error {
			var err error
			runTree, err = runningTree(ctx, k, preTree)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("the kernel's own build of the pre-patch objects: %w", err)
		}
	}
	err = timed("apply-patch", func() error {
		return post.prepare(ctx, append(append([]*srcpatch.Patch{}, after...), p))
	})
	if err != nil {
		return nil, err
	}
	// Then, of the objects only a changed header reaches, those it may
	// change (filter), in the trees as they are now.
	if filter != nil {
		if objs, err = filter(ctx, preTree, post.postTree()); err != nil {
			return nil, err
		}
	}
	// Then the three builds at once, each in a build tree of its own
	// (the section tree with the pristine source, running/build with it,
	// post/): a Kbuild run spends most of a second starting up on one
	// core, and where the kernel's compiler runs emulated the running
	// build is the long one. A failure does not stop the others: killing
	// make would leave its compilers writing into a tree the next create
	// builds in. The errors are reported in the order of the builds.
	var pre, postObjs, running []kbuild.Object
	errs := make([]error, 3)
	build := func(i int, stage string, t kbuild.Tree, remove bool, out *[]kbuild.Object) func() {
		return func() {
			errs[i] = timed(stage, func() error {
				if remove {
					if err := t.Remove(objs); err != nil {
						return err
					}
				}
				var err error
				*out, err = t.BuildObjects(ctx, objs, nil)
				return err
			})
		}
	}
	var wg sync.WaitGroup
	wg.Go(build(0, "build-pre", preTree, false, &pre))
	if len(after) == 0 {
		wg.Go(build(1, "build-running", runTree, false, &running))
	}
	wg.Go(build(2, "build-post", post.postTree(), true, &postObjs))
	wg.Wait()
	if errs[1] != nil {
		errs[1] = fmt.Errorf("the kernel's own build of the pre-patch objects: %w", errs[1])
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	pairs := make([]Pair, len(pre))
	for i := range pre {
		if pre[i].Module != postObjs[i].Module {
			return nil, fmt.Errorf("%s moves from %s to %s: the patch changes the build", pre[i].Rel, pre[i].Target(), postObjs[i].Target())
		}
		pairs[i] = Pair{
			Rel:    pre[i].Rel,
			Pre:    filepath.Join(dir, "pre", pre[i].Rel),
			Post:   filepath.Join(dir, "post", pre[i].Rel),
			Target: pre[i].Target(),
			Cmd:    pre[i].Cmd,
		}
		if err := copyFile(pre[i].Path, pairs[i].Pre); err != nil {
			return nil, err
		}
		if err := copyFile(postObjs[i].Path, pairs[i].Post); err != nil {
			return nil, err
		}
		if running != nil {
			pairs[i].Running = filepath.Join(dir, "running", pre[i].Rel)
			if err := copyFile(running[i].Path, pairs[i].Running); err != nil {
				return nil, err
			}
		}
	}
	return pairs, nil
}

// runningTree is the tree that builds pre's objects with the kernel's own
// flags (kbuild.Tree.Native): the same source, and an O= tree of its own
// in the kernel's cache, running/build, copied once from the kernel's
// build tree and kept, so that an object is compiled again only when
// Kbuild sees a reason to (as the pre-patch objects are in the kernel's
// build tree). The caller holds the kernel's lock.
func runningTree(ctx context.Context, k *kbuild.Kernel, pre kbuild.Tree) (kbuild.Tree, error) {
	build := filepath.Join(k.Dir, "running", "build")
	if _, err := os.Stat(filepath.Join(build, ".config")); err != nil {
		// Copied beside it and renamed: an interrupted copy is never
		// taken for a tree.
		tmp := build + ".tmp"
		os.RemoveAll(build)
		os.RemoveAll(tmp)
		if err := os.MkdirAll(filepath.Dir(build), 0o755); err != nil {
			return kbuild.Tree{}, err
		}
		if err := run.New("cp", "-a", k.Build, tmp).Run(ctx); err != nil {
			os.RemoveAll(tmp)
			return kbuild.Tree{}, fmt.Errorf("make the running build tree: %w", err)
		}
		if err := os.Rename(tmp, build); err != nil {
			return kbuild.Tree{}, err
		}
	}
	// Always the kernel's compiler, whichever made pre's objects.
	t := pre
	t.Build, t.Native, t.MakeVars = build, true, k.MakeVars
	return t, nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// copyAuthorHeaders makes dst hold exactly the .h files of src, rewriting
// only those that differ (Kbuild rebuilds what includes a changed one), and
// returns dst.
func copyAuthorHeaders(src, dst string) (string, error) {
	hs, err := filepath.Glob(filepath.Join(src, "*.h"))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return "", err
	}
	keep := map[string]bool{}
	for _, h := range hs {
		b, err := os.ReadFile(h)
		if err != nil {
			return "", err
		}
		name := filepath.Join(dst, filepath.Base(h))
		keep[filepath.Base(h)] = true
		if old, err := os.ReadFile(name); err == nil && bytes.Equal(old, b) {
			continue
		}
		if err := os.WriteFile(name, b, 0o644); err != nil {
			return "", err
		}
	}
	old, _ := filepath.Glob(filepath.Join(dst, "*.h"))
	for _, h := range old {
		if !keep[filepath.Base(h)] {
			os.Remove(h)
		}
	}
	return dst, nil
}

// kernelTree is the kernel's own build tree, with its compiler.
func kernelTree(k *kbuild.Kernel) kbuild.Tree {
	return kbuild.Tree{Source: k.Source, Build: k.Build, MakeVars: k.MakeVars}
}
