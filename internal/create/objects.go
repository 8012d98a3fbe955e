package create

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
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
	// Headers are the changed headers and, for each, the objects rebuilt
	// because they include it.
	Headers map[string][]string
	// Ignored are changed files that build no code (documentation,
	// scripts, tests).
	Ignored []string
}

// plan decides which objects a patch touches. tree is the patched source,
// for finding a changed header's includers.
func plan(changes []srcpatch.Change, tree string) (*Plan, error) {
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
		case ext == ".S" || ext == ".s":
			return nil, fmt.Errorf("%w: %s is assembly; ksplice builds updates from compiled C only", verdict.ErrRefused, name)
		case ext == ".h":
			users, err := includers(tree, name)
			if err != nil {
				return nil, err
			}
			p.Headers[name] = users
			for _, u := range users {
				objs[u] = true
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

// includers finds the objects to rebuild for a changed header. Without a
// full kernel build there are no dependency records to ask, so only a
// header private to its directory is handled: the .c files beside it that
// include it by name. A shared header (include/, arch/*/include/) may reach
// thousands of objects and is refused.
func includers(tree, header string) ([]string, error) {
	if strings.HasPrefix(header, "include/") || strings.Contains(header, "/include/") {
		return nil, fmt.Errorf("%w: %s is a shared header; changes to it may reach any number of objects and are not supported yet (move the fix into the .c files that need it)", verdict.ErrRefused, header)
	}
	dir := path.Dir(header)
	ents, err := os.ReadDir(filepath.Join(tree, dir))
	if err != nil {
		return nil, err
	}
	want := `"` + path.Base(header) + `"`
	var out []string
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".c") {
			continue
		}
		ok, err := includes(filepath.Join(tree, dir, e.Name()), want)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, path.Join(dir, strings.TrimSuffix(e.Name(), ".c")+".o"))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no .c file beside %s includes it; cannot tell which objects it changes", verdict.ErrRefused, header)
	}
	return out, nil
}

func includes(file, quoted string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "#") && strings.Contains(l, "include") && strings.Contains(l, quoted) {
			return true, nil
		}
	}
	return false, sc.Err()
}
