package create

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/ksplice-go/ksplice/internal/srcpatch"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// Plan is what a patch asks to rebuild.
type Plan struct {
	// Objects are the objects to build before and after the patch,
	// relative to the tree: "fs/proc/cmdline.o".
	Objects []string
	// Headers are the changed headers and, for each, the objects that
	// include it, directly or not; and the changed .c files that are built
	// only as part of another (#include "rt.c"), with the objects that
	// include them.
	Headers map[string][]string
	// Sources are the changed .c files.
	Sources []string
	// Reached are the objects built that only a changed header reaches
	// (their own source did not change): each is scanned for whether
	// the change can alter its code before it is rebuilt.
	Reached []string `json:",omitempty"`
	// Unaffected are those of Reached whose code the change cannot
	// alter (what their code uses did not change): not rebuilt.
	Unaffected []string `json:",omitempty"`
	// Goals are the make goals of the objects that are not built as
	// their own path (kbuild.Placement.Goal).
	Goals map[string]string `json:",omitempty"`
	// NotBuilt are objects the patch touches that the kernel's
	// configuration does not build: nothing to update there.
	NotBuilt []string
	// Ignored are changed files that build no code (documentation,
	// scripts, tests).
	Ignored []string
}

// plan decides which objects a patch touches. headerUsers returns the .c
// files that include a header, directly or not; it is called only when the
// patch changes one.
func plan(changes []srcpatch.Change, headerUsers func(header string) ([]string, error)) (*Plan, error) {
	p := &Plan{Headers: map[string][]string{}}
	objs := map[string]bool{}
	for _, c := range changes {
		name := c.Path()
		base := path.Base(name)
		switch ext := path.Ext(name); {
		case ext == ".c":
			if c.New == "" {
				return nil, fmt.Errorf("%w: %s is deleted; removing a source file changes the build, which a live update cannot", verdict.ErrRefused, name)
			}
			if c.Old == "" {
				return nil, fmt.Errorf("%w: %s is a new file; a live update cannot add objects to the build (put new code in the changed files)", verdict.ErrRefused, name)
			}
			objs[strings.TrimSuffix(name, ".c")+".o"] = true
			p.Sources = append(p.Sources, name)
		case ext == ".S" || ext == ".s":
			return nil, fmt.Errorf("%w: %s is assembly; ksplice builds updates from compiled C only", verdict.ErrRefused, name)
		case ext == ".h":
			users, err := headerUsers(name)
			if err != nil {
				return nil, err
			}
			if len(users) == 0 {
				p.Ignored = append(p.Ignored, name)
				continue
			}
			for _, u := range users {
				o := strings.TrimSuffix(u, ".c") + ".o"
				p.Headers[name] = append(p.Headers[name], o)
				objs[o] = true
			}
		case base == "Makefile" || base == "Kbuild" || strings.HasPrefix(base, "Kconfig"):
			return nil, fmt.Errorf("%w: %s changes the build configuration, which a live update cannot", verdict.ErrRefused, name)
		default:
			p.Ignored = append(p.Ignored, name)
		}
	}
	for o := range objs {
		p.Objects = append(p.Objects, o)
	}
	sort.Strings(p.Objects)
	if len(p.Objects) == 0 {
		return nil, fmt.Errorf("%w: the patch changes no compiled code (only %s)", verdict.ErrRefused, strings.Join(p.Ignored, ", "))
	}
	return p, nil
}
