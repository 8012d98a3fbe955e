package kbuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/ksplice-go/ksplice/internal/run"
)

// ErrNotConfigured means the kernel's configuration does not build an
// object: Kbuild compiles any object it is asked for, configured or not,
// so this has to be asked separately.
var ErrNotConfigured = errors.New("not built by this kernel's configuration")

// evalMakefile is a makefile that reads one directory's Kbuild file with
// the kernel's configuration and prints its object lists, the way
// scripts/Makefile.build would see them: src is relative to the source
// tree, where make runs, as Makefile.build has it (amdgpu's Makefile
// includes $(srctree)/$(src)/../display/Makefile).
const evalMakefile = `.DEFAULT_GOAL := all
all: ;
FORCE: ;
include $(objtree)/include/config/auto.conf
obj := $(dir)
src := $(obj)
kbuild-file := $(firstword $(wildcard $(srctree)/$(src)/Kbuild $(srctree)/$(src)/Makefile))
ifneq ($(kbuild-file),)
include $(kbuild-file)
endif
$(info obj-y $(obj-y))
$(info obj-m $(obj-m))
$(info lib-y $(lib-y))
$(foreach o,$(filter %.o,$(obj-y) $(obj-m)),$(info comp $(o) $($(o:.o=-y)) $($(o:.o=-objs)) $(if $(filter $(o),$(obj-m)),$($(o:.o=-m)))))
`

// dirLists are the object lists of one directory's Kbuild file.
type dirLists struct {
	y, m map[string]bool     // obj-y (and lib-y), obj-m entries: "x.o", "sub/"
	comp map[string][]string // composite object -> its parts
	// err is why the directory's Makefile does not read on its own: it
	// is a fragment another directory's Makefile includes
	// (drivers/gpu/drm/amd/display/Makefile, included by amdgpu's with
	// its variables set), or broken; its lists are empty.
	err error
}

// Resolver tells where the objects of a configured tree end up, by asking
// make to read the tree's Kbuild files with the configuration. Each
// directory's Kbuild file is read once and kept; a Resolver may be shared
// by goroutines (the creates of one upgrade ask about thousands of objects
// in the same directories).
type Resolver struct {
	Tree   Tree
	SrcArc string // SRCARCH: "x86", "arm64"
	mu     sync.Mutex
	dirs   map[string]*dirLists
	mkfile string
	// archDirs are the directories of arch/SRCARCH/Makefile's core-y,
	// drivers-y and libs-y (archTopDirs); nil until read.
	archDirs map[string]bool
}

// NewResolver returns a Resolver for t, whose kernel architecture is
// srcarch.
func NewResolver(t Tree, srcarch string) *Resolver {
	return &Resolver{Tree: t, SrcArc: srcarch, dirs: map[string]*dirLists{}}
}

func (r *Resolver) lists(ctx context.Context, dir string) (*dirLists, error) {
	if l, ok := r.dirs[dir]; ok {
		return l, nil
	}
	l := &dirLists{y: map[string]bool{}, m: map[string]bool{}, comp: map[string][]string{}}
	r.dirs[dir] = l
	if _, err := os.Stat(filepath.Join(r.Tree.Source, dir)); err != nil {
		return l, nil
	}
	if r.mkfile == "" {
		f, err := os.CreateTemp("", "ksplice-kbuild-*.mk")
		if err != nil {
			return nil, err
		}
		f.WriteString(evalMakefile)
		f.Close()
		r.mkfile = f.Name()
	}
	args := []string{"-s", "-f", r.mkfile, "srctree=" + r.Tree.Source, "objtree=" + r.Tree.Build,
		"dir=" + dir, "SRCARCH=" + r.SrcArc, "ARCH=" + r.SrcArc}
	if r.SrcArc == "x86" {
		args = append(args, "BITS=64") // set by arch/x86/Makefile, used in Kbuild files
	}
	out, err := run.Command(ctx, r.Tree.Source, "make", args...)
	if err != nil && ctx.Err() == nil {
		// Once more: a make that fails for a reason of the moment
		// (fork under load) must not make a directory's objects
		// unbuilt for the rest of the run.
		out, err = run.Command(ctx, r.Tree.Source, "make", args...)
	}
	if err != nil {
		if ctx.Err() != nil {
			delete(r.dirs, dir)
			return nil, ctx.Err()
		}
		l.err = fmt.Errorf("read %s/Makefile with the kernel's configuration: %w", dir, err)
		return l, nil
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "obj-y", "lib-y":
			for _, o := range f[1:] {
				l.y[o] = true
			}
		case "obj-m":
			for _, o := range f[1:] {
				l.m[o] = true
			}
		case "comp":
			if len(f) > 1 {
				l.comp[f[1]] = f[2:]
			}
		}
	}
	return l, nil
}

// Close removes the Resolver's temporary makefile.
func (r *Resolver) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mkfile != "" {
		os.Remove(r.mkfile)
	}
}

// Where says where the object rel ("fs/proc/cmdline.o") ends up: in
// vmlinux (module ""), or in the named module. The error wraps
// ErrNotConfigured when the configuration does not build it.
func (r *Resolver) Where(ctx context.Context, rel string) (module string, err error) {
	p, err := r.Place(ctx, rel)
	return p.Module, err
}

// Placement says where an object ends up and how Kbuild builds it.
type Placement struct {
	// Module is the module the object is linked into, "" for vmlinux.
	Module string
	// Goal is the make goal that builds the object: its own path, or,
	// for an object of a Makefile fragment another directory's
	// Makefile includes, its path from that directory
	// ("drivers/gpu/drm/amd/amdgpu/../display/dc/core/dc.o"): built as
	// its own path, Kbuild would read the fragment's directory without
	// the including Makefile's flags (its -I paths), and fail.
	Goal string
}

// Place is Where, and the goal that builds the object.
func (r *Resolver) Place(ctx context.Context, rel string) (Placement, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dir, mod, err := r.where(ctx, rel)
	if err != nil {
		return Placement{}, err
	}
	p := Placement{Module: mod, Goal: rel}
	if !strings.HasPrefix(rel, dir+"/") {
		up, err := filepath.Rel(dir, rel)
		if err != nil {
			return Placement{}, err
		}
		p.Goal = dir + "/" + up
	}
	return p, nil
}

// where returns the directory whose Makefile lists rel, and the module
// rel is in ("" for vmlinux).
func (r *Resolver) where(ctx context.Context, rel string) (dir, module string, err error) {
	// Kbuild never descends into another architecture's directory, whose
	// Makefiles may not even read with this one's variables
	// (arch/powerpc/boot/Makefile needs a vmlinux target).
	if rest, ok := strings.CutPrefix(rel, "arch/"); ok && !strings.HasPrefix(rest, r.SrcArc+"/") {
		return "", "", fmt.Errorf("%s: %w", rel, ErrNotConfigured)
	}
	var unread error
	// fragTop is the topmost directory on the way whose Makefile does
	// not read on its own: the root of the fragments another Makefile
	// includes.
	fragTop := ""
	for dir := path.Dir(rel); dir != "."; dir = path.Dir(dir) {
		l, err := r.lists(ctx, dir)
		if err != nil {
			return "", "", err
		}
		if l.err != nil {
			unread = l.err
			fragTop = dir
			continue
		}
		found, builtin, mod := l.find(dir, rel)
		if !found {
			continue
		}
		mod, err = r.placed(ctx, rel, dir, builtin, mod)
		return dir, mod, err
	}
	if unread == nil {
		return "", "", fmt.Errorf("%s: %w", rel, ErrNotConfigured)
	}
	// A directory on the way has a Makefile that only another
	// directory's includes, with its own variables set: the objects are
	// listed there, relative to the including directory
	// ("../display/dc/core/dc.o" in amdgpu's amdgpu-y). Look for them in
	// the Makefiles of the directories beside each one on the way up.
	includer, includes := "", ""
	for up := path.Dir(rel); up != "." && includer == ""; up = path.Dir(up) {
		parent := path.Dir(up)
		if parent == "." {
			break
		}
		ents, err := os.ReadDir(filepath.Join(r.Tree.Source, parent))
		if err != nil {
			return "", "", err
		}
		for _, e := range ents {
			sib := parent + "/" + e.Name()
			if !e.IsDir() || sib == up {
				continue
			}
			l, err := r.lists(ctx, sib)
			if err != nil {
				return "", "", err
			}
			if l.err != nil {
				continue
			}
			if found, builtin, mod := l.find(sib, rel); found {
				mod, err = r.placed(ctx, rel, sib, builtin, mod)
				return sib, mod, err
			}
			switch {
			case l.lists(sib, path.Dir(rel)):
				includer, includes = sib, path.Dir(rel)
			case includer == "" && fragTop != "" && l.mentions(sib, fragTop):
				// It lists objects of the fragments' tree, not
				// of this directory: it read the fragments
				// with the configuration, and the part that
				// lists this directory was left out (amdgpu's
				// Makefile includes display/dc/dsc/'s only
				// with CONFIG_DRM_AMD_DC_DCN, x86 and ppc64).
				includer, includes = sib, fragTop
			}
		}
	}
	if includer != "" {
		// The Makefile that includes the directory's lists other
		// objects of it, not this one: a file no Makefile builds
		// (dc/dce/dce_clk_mgr.c of amdgpu, left in the tree), or one
		// the configuration leaves out of the fragments it includes.
		return "", "", fmt.Errorf("%s: %s/Makefile builds other objects of %s, not this one: %w", rel, includer, includes, ErrNotConfigured)
	}
	// The nearest directory above with a Makefile that reads: if Kbuild
	// never descends into it, it never reads the fragments below it
	// either (drivers/misc/habanalabs/common/, included by
	// habanalabs/'s Makefile, which this configuration does not reach),
	// and no Makefile beside them lists their objects.
	for dir := path.Dir(path.Dir(rel)); dir != "."; dir = path.Dir(dir) {
		l, err := r.lists(ctx, dir)
		if err != nil {
			return "", "", err
		}
		if l.err != nil || !hasKbuildFile(filepath.Join(r.Tree.Source, dir)) {
			continue
		}
		reach, err := r.reachable(ctx, dir)
		if err != nil {
			return "", "", err
		}
		if !reach {
			return "", "", fmt.Errorf("%s: Kbuild does not descend into %s, whose Makefile includes it: %w", rel, dir, ErrNotConfigured)
		}
		// Kbuild reads this Makefile: if it names nothing in the
		// directory below it on the way (neither as a subdirectory
		// nor an object of an included fragment), Kbuild never goes
		// there (lib/raid6/test/, a user-space test's Makefile).
		child := dir + "/" + strings.Split(strings.TrimPrefix(rel, dir+"/"), "/")[0]
		if !l.mentions(dir, child) {
			return "", "", fmt.Errorf("%s: %s/Makefile, which Kbuild reads, names nothing in %s: %w", rel, dir, child, ErrNotConfigured)
		}
		break
	}
	// Not a wrong "not configured": the Makefile that would say was not
	// found.
	return "", "", fmt.Errorf("%s: no Makefile lists it, and %w", rel, unread)
}

func hasKbuildFile(dir string) bool {
	for _, n := range []string{"Kbuild", "Makefile"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return true
		}
	}
	return false
}

// find looks for the object rel among the lists of dir's Makefile, whose
// entries are relative to dir (and may climb out of it with ../), and
// says whether it is built in, or the module it is part of.
func (l *dirLists) find(dir, rel string) (found, builtin bool, mod string) {
	is := func(entry string) bool { return path.Join(dir, entry) == rel }
	for e := range l.y {
		if is(e) {
			return true, true, ""
		}
	}
	for e := range l.m {
		if is(e) {
			return true, false, strings.TrimSuffix(path.Base(e), ".o")
		}
	}
	for c, parts := range l.comp {
		for _, p := range parts {
			if !is(p) {
				continue
			}
			if l.y[c] {
				return true, true, ""
			}
			return true, false, strings.TrimSuffix(path.Base(c), ".o")
		}
	}
	return false, false, ""
}

// mentions reports whether dir's Makefile lists the directory sub or
// anything below it.
func (l *dirLists) mentions(dir, sub string) bool {
	in := func(entry string) bool {
		p := path.Join(dir, entry)
		return p == sub || strings.HasPrefix(p, sub+"/")
	}
	for _, set := range []map[string]bool{l.y, l.m} {
		for e := range set {
			if in(e) {
				return true
			}
		}
	}
	for _, parts := range l.comp {
		for _, p := range parts {
			if in(p) {
				return true
			}
		}
	}
	return false
}

// lists reports whether dir's Makefile lists an object of the directory
// other.
func (l *dirLists) lists(dir, other string) bool {
	in := func(entry string) bool { return path.Dir(path.Join(dir, entry)) == other }
	for _, set := range []map[string]bool{l.y, l.m} {
		for e := range set {
			if in(e) {
				return true
			}
		}
	}
	for _, parts := range l.comp {
		for _, p := range parts {
			if in(p) {
				return true
			}
		}
	}
	return false
}

// placed answers Where for an object found in dir's lists: configured if
// Kbuild descends into dir and puts the object into vmlinux or a module.
func (r *Resolver) placed(ctx context.Context, rel, dir string, builtin bool, mod string) (string, error) {
	reach, err := r.reachable(ctx, dir)
	if err != nil {
		return "", err
	}
	if !reach || !builtin && mod == "" {
		return "", fmt.Errorf("%s: %w", rel, ErrNotConfigured)
	}
	return strings.ReplaceAll(mod, "-", "_"), nil
}

// topDirs are the directories the top-level Makefile descends into.
var topDirs = map[string]bool{
	"block": true, "certs": true, "crypto": true, "drivers": true, "fs": true, "init": true,
	"io_uring": true, "ipc": true, "kernel": true, "lib": true, "mm": true, "net": true,
	"security": true, "sound": true, "usr": true, "virt": true,
}

// archListRE matches the lines of an architecture's Makefile that add
// directories to the top-level build: "drivers-$(CONFIG_PCI) +=
// arch/x86/pci/", "libs-y += arch/x86/lib/".
var archListRE = regexp.MustCompile(`^(core|drivers|libs)-(y|\$\(CONFIG_[A-Za-z0-9_]+\))\s*[:+]?=`)

// archTopDirs returns the directories the architecture's Makefile adds to
// the top-level build with the kernel's configuration (arch/x86/pci/ and
// arch/x86/lib/ are not in arch/x86/Kbuild: the top-level Makefile
// descends into them from the core-y, drivers-y and libs-y lists).
func (r *Resolver) archTopDirs(ctx context.Context) (map[string]bool, error) {
	if r.archDirs != nil {
		return r.archDirs, nil
	}
	// Kept only once read: a failure is returned, never remembered as
	// "no directories".
	dirs := map[string]bool{}
	src, err := os.ReadFile(filepath.Join(r.Tree.Source, "arch", r.SrcArc, "Makefile"))
	if errors.Is(err, os.ErrNotExist) {
		r.archDirs = dirs
		return dirs, nil
	} else if err != nil {
		return nil, err
	}
	var mk strings.Builder
	mk.WriteString(".DEFAULT_GOAL := all\nall: ;\ninclude $(objtree)/include/config/auto.conf\n")
	for _, line := range strings.Split(string(src), "\n") {
		if archListRE.MatchString(line) {
			mk.WriteString(line + "\n")
		}
	}
	mk.WriteString("$(info dirs $(core-y) $(drivers-y) $(libs-y))\n")
	f, err := os.CreateTemp("", "ksplice-kbuild-arch-*.mk")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	f.WriteString(mk.String())
	f.Close()
	out, err := run.Command(ctx, r.Tree.Source, "make", "-s", "-f", f.Name(), "srctree="+r.Tree.Source, "objtree="+r.Tree.Build)
	if err != nil {
		return nil, fmt.Errorf("read arch/%s/Makefile with the kernel's configuration: %w", r.SrcArc, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "dirs" {
			for _, d := range f[1:] {
				if strings.HasSuffix(d, "/") {
					dirs[strings.TrimSuffix(d, "/")] = true
				}
			}
		}
	}
	r.archDirs = dirs
	return dirs, nil
}

// reachable reports whether Kbuild descends into dir.
func (r *Resolver) reachable(ctx context.Context, dir string) (bool, error) {
	if topDirs[dir] || dir == "arch/"+r.SrcArc {
		return true, nil
	}
	if strings.HasPrefix(dir, "arch/") {
		top, err := r.archTopDirs(ctx)
		if err != nil {
			return false, err
		}
		if top[dir] {
			return true, nil
		}
	}
	for p := path.Dir(dir); p != "."; p = path.Dir(p) {
		l, err := r.lists(ctx, p)
		if err != nil {
			return false, err
		}
		sub := strings.TrimPrefix(dir, p+"/") + "/"
		if l.y[sub] || l.m[sub] {
			return r.reachable(ctx, p)
		}
	}
	return false, nil
}
