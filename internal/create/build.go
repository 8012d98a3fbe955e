package create

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// Pair is one object built before and after the patch.
type Pair struct {
	Rel       string // "fs/proc/cmdline.o"
	Pre, Post string // copies in the scratch directory
	Target    string // "vmlinux" or a module name
	Cmd       string // the compiler command Kbuild recorded (pre)
}

// workspace is the kernel's persistent post-patch build area: post/src, a
// tree of hard links to the pristine source that is remade for every update
// (a second), and post/build, an O= tree whose host tools (objtool,
// resolve_btfids) are built once and kept, since Kbuild rebuilds them in a
// tree it has not seen (seconds per update). The pristine source and build
// trees are never written, except that pre-patch objects are built into
// the kernel's build tree, where they are valid as long as the source is.
// All of it is used under the kernel's lock.
type workspace struct {
	k    *lab.Kernel
	src  string
	objs string
}

func newWorkspace(k *lab.Kernel) *workspace {
	return &workspace{k: k, src: filepath.Join(k.Dir, "post", "src"), objs: filepath.Join(k.Dir, "post", "build")}
}

func (w *workspace) preTree() kbuild.Tree {
	return kbuild.Tree{Source: w.k.Source, Build: w.k.Build, Vars: w.k.MakeVars}
}

func (w *workspace) postTree() kbuild.Tree {
	return kbuild.Tree{Source: w.src, Build: w.objs, Vars: w.k.MakeVars}
}

// reset makes post/src a fresh link farm of the pristine source and makes
// sure post/build exists.
func (w *workspace) reset(ctx context.Context) error {
	if err := os.RemoveAll(w.src); err != nil {
		return fmt.Errorf("reset scratch tree: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(w.src), 0o755); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "cp", "-al", w.k.Source, w.src).CombinedOutput(); err != nil {
		return fmt.Errorf("make scratch tree: %v: %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(w.objs, ".config")); err != nil {
		os.RemoveAll(w.objs)
		if out, err := exec.CommandContext(ctx, "cp", "-a", w.k.Build, w.objs).CombinedOutput(); err != nil {
			os.RemoveAll(w.objs)
			return fmt.Errorf("make scratch build tree: %v: %s", err, out)
		}
	}
	return nil
}

// cleanup removes the patched scratch source; the build tree stays.
func (w *workspace) cleanup() {
	os.RemoveAll(w.src)
}

// buildPairs builds objs before and after the patch and copies them into
// dir/pre and dir/post.
func buildPairs(ctx context.Context, k *lab.Kernel, p *srcpatch.Patch, objs []string, dir string, log io.Writer, timed func(string, func() error) error) ([]Pair, error) {
	unlock, err := k.Lock(func() { fmt.Fprintf(log, "create: waiting for another ksplice using %s\n", k.Spec) })
	if err != nil {
		return nil, err
	}
	defer unlock()
	w := newWorkspace(k)
	defer w.cleanup()

	var pre, post []kbuild.Object
	err = timed("build-pre", func() error {
		var err error
		pre, err = w.preTree().BuildObjects(ctx, objs, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	err = timed("apply-patch", func() error {
		if err := w.reset(ctx); err != nil {
			return err
		}
		return p.Apply(ctx, w.src)
	})
	if err != nil {
		return nil, err
	}
	err = timed("build-post", func() error {
		t := w.postTree()
		if err := t.Remove(objs); err != nil {
			return err
		}
		var err error
		post, err = t.BuildObjects(ctx, objs, nil)
		return err
	})
	if err != nil {
		return nil, err
	}
	pairs := make([]Pair, len(pre))
	for i := range pre {
		if pre[i].Module != post[i].Module {
			return nil, fmt.Errorf("%s moves from %s to %s: the patch changes the build", pre[i].Rel, pre[i].Target(), post[i].Target())
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
		if err := copyFile(post[i].Path, pairs[i].Post); err != nil {
			return nil, err
		}
	}
	return pairs, nil
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
