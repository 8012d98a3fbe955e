package delta

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/ksplice-go/ksplice/internal/kbuild"
)

// Class is what a changed file is to a kernel configuration.
type Class string

const (
	// Built is C code the configuration compiles, into vmlinux or a
	// module, on its own or #included by another .c file that is.
	Built Class = "built"
	// NotBuilt is C code the configuration does not compile (another
	// architecture, a driver that is not configured).
	NotBuilt Class = "not-built"
	// Header is a C header: its change reaches the objects that include
	// it, which only building them tells.
	Header Class = "header"
	// BuildOnly is everything else: assembly, Makefiles and Kconfig,
	// device trees, documentation, scripts and tools that run on the build
	// host or in user space.
	BuildOnly Class = "build-only"
	// Unknown is a file whose class could not be decided: Reason holds
	// the error. Never taken for another class.
	Unknown Class = "unknown"
)

// File is a changed file, classified.
type File struct {
	Change
	Class Class `json:"class"`
	// Object is the object that holds the file's code: its own
	// ("fs/ext4/mballoc.o"), or that of the .c file that includes it
	// (Via). Built files only.
	Object string `json:"object,omitempty"`
	Via    string `json:"via,omitempty"`
	// Target is where Object ends up: "vmlinux" or a module's name.
	Target string `json:"target,omitempty"`
	// Headers are the changed headers a built .c file includes, directly
	// or not.
	Headers []string `json:"headers,omitempty"`
	// Users are, for a header, the changed built .c files that include it;
	// Includers how many .c files of the tree include it at all.
	Users     []string `json:"users,omitempty"`
	Includers int      `json:"includers,omitempty"`
	// Reason says, in words, why the file is in its class.
	Reason string `json:"reason"`
}

// Config answers what a kernel configuration builds.
type Config struct {
	// Where says where the configuration puts an object of the old tree
	// ("fs/ext4/mballoc.o"): "" for vmlinux, else the module's name; an
	// error wrapping kbuild.ErrNotConfigured if it does not build it.
	// kbuild.Resolver.Where is one.
	Where func(ctx context.Context, obj string) (string, error)
	// WhereNew is Where for files the new tree adds, read from the new
	// tree's Kbuild files; nil to use Where.
	WhereNew func(ctx context.Context, obj string) (string, error)
	// Includers lists the .c files of the old tree that include a file,
	// directly or not (create.Includers).
	Includers func(file string) ([]string, error)
}

// notKernel are top directories whose code is not part of the kernel
// image or its modules.
var notKernel = map[string]string{
	"Documentation": "documentation",
	"tools":         "user-space tools",
	"scripts":       "build scripts",
	"samples":       "sample code, not built by distribution kernels",
	"usr":           "the initramfs builder",
	"LICENSES":      "licence texts",
}

// Classify sorts changes by what they are to the configuration cfg.
func Classify(ctx context.Context, changes []Change, cfg Config) ([]File, error) {
	files := make([]File, len(changes))
	byPath := map[string]*File{}
	var headers []*File
	for i, c := range changes {
		f := &files[i]
		f.Change = c
		byPath[c.Path] = f
		if err := classifyOne(ctx, f, cfg); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			// One Makefile that cannot be read must not hide the
			// rest of the delta: the file says why it is unknown.
			f.Class, f.Object, f.Target, f.Via = Unknown, "", "", ""
			f.Reason = err.Error()
		}
		if f.Class == Header {
			headers = append(headers, f)
		}
	}
	for _, h := range headers {
		if h.Status == Added {
			h.Reason = "new header: only the files that include it can use it"
			continue
		}
		users, err := cfg.Includers(h.Path)
		if err != nil {
			return nil, err
		}
		h.Includers = len(users)
		for _, u := range users {
			f := byPath[u]
			if f == nil || f.Class != Built {
				continue
			}
			h.Users = append(h.Users, u)
			f.Headers = append(f.Headers, h.Path)
		}
		h.Reason = fmt.Sprintf("header included by %d .c files of the tree, %d of them changed and built", h.Includers, len(h.Users))
	}
	for i := range files {
		sort.Strings(files[i].Headers)
	}
	return files, nil
}

func classifyOne(ctx context.Context, f *File, cfg Config) error {
	p := f.Path
	top, _, _ := strings.Cut(p, "/")
	if what, ok := notKernel[top]; ok && strings.Contains(p, "/") {
		f.Class, f.Reason = BuildOnly, what
		return nil
	}
	base := path.Base(p)
	switch ext := path.Ext(p); {
	case ext == ".h":
		f.Class = Header
		return nil
	case ext == ".S" || ext == ".s":
		f.Class, f.Reason = BuildOnly, "assembly"
		return nil
	case ext == ".c":
		return classifyC(ctx, f, cfg)
	case base == "Makefile" || base == "Kbuild" || strings.HasPrefix(base, "Kconfig"):
		f.Class, f.Reason = BuildOnly, "build configuration"
	case ext == ".dts" || ext == ".dtsi":
		f.Class, f.Reason = BuildOnly, "device tree"
	case ext == ".rst" || ext == ".txt" || ext == ".yaml":
		f.Class, f.Reason = BuildOnly, "documentation"
	default:
		f.Class, f.Reason = BuildOnly, "not C code"
	}
	return nil
}

func classifyC(ctx context.Context, f *File, cfg Config) error {
	obj := strings.TrimSuffix(f.Path, ".c") + ".o"
	where := cfg.Where
	if f.Status == Added && cfg.WhereNew != nil {
		where = cfg.WhereNew
	}
	mod, err := where(ctx, obj)
	switch {
	case err == nil:
		f.Class, f.Object, f.Target = Built, obj, target(mod)
		f.Reason = "built into " + f.Target
		return nil
	case !errors.Is(err, kbuild.ErrNotConfigured):
		return err
	}
	if f.Status == Added {
		f.Class, f.Reason = NotBuilt, "new file the configuration does not build"
		return nil
	}
	// A .c file no Kbuild file names may be #included by one that is
	// built (kernel/sched/rt.c into build_policy.c).
	users, err := cfg.Includers(f.Path)
	if err != nil {
		return err
	}
	for _, u := range users {
		if u == f.Path {
			continue
		}
		uo := strings.TrimSuffix(u, ".c") + ".o"
		mod, err := cfg.Where(ctx, uo)
		if errors.Is(err, kbuild.ErrNotConfigured) {
			continue
		}
		if err != nil {
			return err
		}
		f.Class, f.Object, f.Via, f.Target = Built, uo, u, target(mod)
		f.Reason = fmt.Sprintf("built into %s, #included by %s", f.Target, u)
		return nil
	}
	f.Class, f.Reason = NotBuilt, "not built by this kernel's configuration"
	return nil
}

func target(mod string) string {
	if mod == "" {
		return "vmlinux"
	}
	return mod
}

// Counts returns how many files each class has.
func Counts(files []File) map[Class]int {
	n := map[Class]int{}
	for _, f := range files {
		n[f.Class]++
	}
	return n
}

// Paths returns the paths of files.
func Paths(files []File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Path)
	}
	return slices.Clip(out)
}
