package kbuild

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// SectionFlags are the compiler flags every object ksplice compares is
// built with: one section per function and per data object, so that the
// ELF diff can work section by section.
const SectionFlags = "-ffunction-sections -fdata-sections"

// Tree is a kernel source tree with an O= output tree configured for it.
// A Kernel is one, and create makes others beside it (the patched copy of
// the source and its own O= tree) with the same MakeVars.
type Tree struct {
	Source string `json:"source"` // srctree; a Kernel's pristine source is never written after it is prepared
	Build  string `json:"build"`  // objtree (O=)
	// MakeVars are the make variables that build code exactly as the
	// kernel was built: CC, KERNELRELEASE, and ARCH and CROSS_COMPILE for a
	// foreign architecture (see MakeVars).
	MakeVars []string `json:"make_vars"`
	Jobs     int      `json:"-"` // make -j; 0 means 2
	// Include is a directory of headers for patch authors, put on the
	// include path (KCFLAGS -I, which changes no generated code); "" for
	// none.
	Include string `json:"-"`
	// Native builds with the kernel's own flags only, without
	// SectionFlags: the code the running kernel has, byte for byte.
	// Section flags change code on arm64 (-fdata-sections turns off
	// gcc's section anchors, -ffunction-sections moves loop alignment),
	// so the old code run-pre compares comes from such a build, in an O=
	// tree of its own (Kbuild would rebuild every object of a tree whose
	// flags alternate).
	Native bool `json:"-"`
	// Goals maps an object to the make goal that builds it where that
	// is not its own path (Placement.Goal: the objects of a Makefile
	// fragment another directory includes).
	Goals map[string]string `json:"-"`
}

// goal is the make goal that builds obj ("x.o"), with the suffix ext
// in place of ".o".
func (t Tree) goal(obj, ext string) string {
	g, ok := t.Goals[obj]
	if !ok {
		g = obj
	}
	return strings.TrimSuffix(g, ".o") + ext
}

// Object is one object file built from the tree.
type Object struct {
	Rel  string // path relative to the tree: "fs/proc/cmdline.o"
	Path string // absolute path of the .o in the build tree
	// Module is the module the object is linked into, or "" when it is
	// built into vmlinux (Kbuild compiles module objects with -DMODULE
	// and names the module in KBUILD_MODNAME).
	Module string
	// Cmd is the compiler command line Kbuild recorded.
	Cmd string
}

// Target is where an object's code runs: "vmlinux" or the module name.
func (o Object) Target() string {
	if o.Module == "" {
		return "vmlinux"
	}
	return o.Module
}

// BuildError is a failed build of objects, with the compiler's own error
// lines picked from everything make printed (a *run.Error keeps only the
// last lines). It unwraps to the make command's *run.Error.
type BuildError struct {
	Targets []string
	Output  string // the compiler's diagnostics and make's errors
	Err     error  // the *run.Error of make
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("build %s:\n%s", strings.Join(e.Targets, " "), e.Output)
}

func (e *BuildError) Unwrap() error { return e.Err }

// ErrNotBuilt means the kernel's configuration does not build an object.
var ErrNotBuilt = errors.New("not built by this kernel's configuration")

// BuildObjects builds the given objects (paths relative to the tree, such as
// "fs/proc/cmdline.o") in one make invocation (each costs seconds of Kbuild
// start-up; objects of arch/ subdirectories in a second, see below) with
// SectionFlags (none with Native), and describes them. Objects that exist
// are rebuilt only when Kbuild sees a reason to.
func (t Tree) BuildObjects(ctx context.Context, objs []string, log io.Writer) ([]Object, error) {
	jobs := t.Jobs
	if jobs <= 0 {
		jobs = 2
	}
	// An object of a directory the architecture's Makefile adds to the
	// top-level build (arch/x86/pci/, arch/x86/lib/) is a goal of two
	// descents of Kbuild's single-target build: that directory's, and
	// arch/x86/'s, whose pattern rule matches arch/x86/pci/fixup.o too.
	// Run in parallel, both compile it at once, and one's fixdep finds
	// the other's dependency file gone, or objtool runs twice on one
	// object. Those objects are built one make job at a time.
	var serial, parallel []string
	for _, o := range objs {
		if strings.HasPrefix(o, "arch/") && strings.Count(o, "/") >= 3 {
			serial = append(serial, t.goal(o, ".o"))
		} else {
			parallel = append(parallel, t.goal(o, ".o"))
		}
	}
	// -k: every object that fails says why in one build (an upgrade
	// joins the changed files a header's change breaks, all at once).
	if len(serial) > 0 && len(parallel) > 0 {
		if err := t.build(ctx, parallel, jobs, log, "-k"); err != nil {
			return nil, err
		}
		parallel = nil
	}
	if len(serial) > 0 {
		jobs = 1
	}
	if err := t.build(ctx, append(parallel, serial...), jobs, log, "-k"); err != nil {
		return nil, err
	}
	var res []Object
	for _, rel := range objs {
		o := Object{Rel: rel, Path: filepath.Join(t.Build, rel)}
		if _, err := os.Stat(o.Path); err != nil {
			return nil, fmt.Errorf("%s: %w", rel, ErrNotBuilt)
		}
		c, err := ReadCmd(t.Build, rel)
		if err != nil {
			return nil, err
		}
		o.Cmd = c
		o.Module = moduleOf(c)
		res = append(res, o)
	}
	return res, nil
}

// Preprocess writes each object's preprocessed source (Kbuild's "%.i"
// target: "net/core/sock.o" becomes net/core/sock.i in the build tree),
// with the flags its build has and the preprocessor's own ones added
// (cppFlags, such as "-D__LINE__=0"). It returns the .i files made, by
// object; one that failed is missing and the error says why. The caller
// removes the files.
func (t Tree) Preprocess(ctx context.Context, objs []string, cppFlags string) (map[string]string, error) {
	targets := make([]string, len(objs))
	for i, o := range objs {
		targets[i] = t.goal(o, ".i")
		// Never an earlier run's file for this one's.
		if err := os.Remove(filepath.Join(t.Build, strings.TrimSuffix(o, ".o")+".i")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	// As BuildObjects: an arch/ subdirectory's file is a goal of two
	// descents of Kbuild, which must not make it at once.
	jobs := t.Jobs
	if jobs <= 0 {
		jobs = 2
	}
	for _, o := range objs {
		if strings.HasPrefix(o, "arch/") && strings.Count(o, "/") >= 3 {
			jobs = 1
		}
	}
	err := t.build(ctx, targets, jobs, nil, "-k", "CPP="+compiler(t.MakeVars)+" -E "+cppFlags)
	out := map[string]string{}
	for _, o := range objs {
		p := filepath.Join(t.Build, strings.TrimSuffix(o, ".o")+".i")
		if _, serr := os.Stat(p); serr == nil {
			out[o] = p
		}
	}
	return out, err
}

// build builds objs in one make invocation with SectionFlags (none with
// Native).
func (t Tree) build(ctx context.Context, objs []string, jobs int, log io.Writer, extra ...string) error {
	if len(objs) == 0 {
		// make with no goal builds its default one: the whole
		// kernel, never what a caller with nothing to build means.
		return nil
	}
	args := append([]string{"-C", t.Source, "O=" + t.Build}, t.MakeVars...)
	args = append(args, extra...)
	var flags []string
	if !t.Native {
		flags = append(flags, SectionFlags)
	}
	if t.Include != "" {
		flags = append(flags, "-I"+t.Include)
	}
	kcflags := strings.Join(flags, " ")
	args = append(args, fmt.Sprintf("-j%d", jobs), "KCFLAGS="+kcflags)
	if !t.Native {
		// KCFLAGS come before a directory's own flags, and init/'s
		// Makefile turns sections off (ccflags-y); CFLAGS_KERNEL and
		// CFLAGS_MODULE, empty in the kernel's Makefile, come after
		// every other flag of an object.
		args = append(args, "CFLAGS_KERNEL="+SectionFlags, "CFLAGS_MODULE="+SectionFlags)
	}
	args = append(args, objs...)
	// All of make's output, interleaved as printed, for compilerErrors.
	var out bytes.Buffer
	cmd := t.Make(args...)
	cmd.Log = &out
	if log != nil {
		cmd.Log = io.MultiWriter(&out, log)
	}
	if err := cmd.Run(ctx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &BuildError{Targets: objs, Output: compilerErrors(out.String()), Err: err}
	}
	return nil
}

// Remove deletes built objects and Kbuild's records of them, so that the
// next build cannot mistake them for up to date.
func (t Tree) Remove(objs []string) error {
	for _, rel := range objs {
		for _, p := range []string{filepath.Join(t.Build, rel), cmdPath(t.Build, rel)} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

func cmdPath(build, rel string) string {
	return filepath.Join(build, filepath.Dir(rel), "."+filepath.Base(rel)+".cmd")
}

// ReadCmd returns the command line Kbuild recorded for an object in its
// .cmd file.
func ReadCmd(build, rel string) (string, error) {
	f, err := os.Open(cmdPath(build, rel))
	if err != nil {
		return "", fmt.Errorf("%s: Kbuild record: %w", rel, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "cmd_") || strings.HasPrefix(line, "savedcmd_") {
			if _, v, ok := strings.Cut(line, " := "); ok {
				return v, nil
			}
		}
	}
	return "", fmt.Errorf("%s: Kbuild record has no command line", rel)
}

// diagnostic matches gcc's diagnostics with their source excerpts and
// carets, and make's errors.
var diagnostic = regexp.MustCompile(`error|Error|warning:|note:|In function|No rule to make target|^\s+\d+ \||^\s+\|`)

var modname = regexp.MustCompile(`-DKBUILD_MODNAME='"([^"]+)"'`)

func moduleOf(cmd string) string {
	if !strings.Contains(" "+cmd+" ", " -DMODULE ") {
		return ""
	}
	if m := modname.FindStringSubmatch(cmd); m != nil {
		return m[1]
	}
	return ""
}

// compilerErrors keeps what a failed build said that matters: the
// compiler's diagnostics and make's own errors, not the progress lines.
func compilerErrors(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if diagnostic.MatchString(l) {
			keep = append(keep, l)
		}
	}
	if len(keep) == 0 {
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if len(lines) > 20 {
			lines = lines[len(lines)-20:]
		}
		keep = lines
	}
	if len(keep) > 40 {
		keep = keep[:40]
	}
	return strings.Join(keep, "\n")
}
