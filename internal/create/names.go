package create

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/ksplice-go/ksplice/internal/cdecl"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// A header whose edit changes only functions' declarations and
// definitions (a prototype's parameter types, a function renamed, a
// static inline's body) changes code only where the function is named:
// an object whose sources never name it compiles to the same code, since
// an unused declaration makes none. Its includers that name none of the
// functions need not be preprocessed to know that, and a release's
// header that twelve thousand objects include (rcutree.h renames
// rcu_momentary_dyntick_idle() to rcu_momentary_eqs()) then costs a
// search of the tree's text, not hours of preprocessing.
//
// The search errs one way. A file names a function if the name is one of
// its identifiers outside comments and strings, or if a ## there pastes
// a piece of the name (rcu_##x); the header's includers that include such
// a file, or are it, are candidates. A changed header that changes more
// than functions (a type, a macro, a definition with external linkage,
// which every includer compiles), or that names its functions outside
// their own declarations, keeps all its includers. Candidates are then
// scanned as any includer is.

// changedFunctions returns the functions whose declarations or
// definitions the edit of a header changes, or why the edit changes more
// than that.
func changedFunctions(e *srcpatch.Edit) (names []string, why string) {
	set := map[string]bool{}
	for _, side := range []struct {
		src   []byte
		lines []int
	}{{e.Old, e.Removed}, {e.New, e.Added}} {
		decls := cdecl.Scan(side.src)
		for _, l := range side.lines {
			for _, d := range decls {
				if l < d.First || l > d.Last {
					continue
				}
				switch d.Kind {
				case cdecl.Directive:
					return nil, fmt.Sprintf("line %d is a preprocessor directive", l)
				case cdecl.Other:
					return nil, fmt.Sprintf("line %d is in a declaration that is not a function's", l)
				}
				if d.Body && !d.Static {
					// One definition, compiled into
					// every object that includes it,
					// whether it names it or not.
					return nil, fmt.Sprintf("line %d is in the definition of %s, with external linkage", l, d.Name)
				}
				set[d.Name] = true
			}
		}
	}
	if len(set) == 0 {
		return nil, "it changes no declaration"
	}
	return slices.Sorted(maps.Keys(set)), ""
}

// namedElsewhere returns where the header, before or after its edit,
// names one of the functions outside their own declarations (another
// inline that calls one, a macro): its includers are reached that way
// too. "" if nowhere.
func namedElsewhere(e *srcpatch.Edit, names map[string]bool) string {
	for _, src := range [][]byte{e.Old, e.New} {
		decls := cdecl.Scan(src)
		for _, t := range cdecl.Tokens(src) {
			if !names[t.Name] && !pastesPiece(t, names) {
				continue
			}
			own := false
			for _, d := range decls {
				if d.Kind == cdecl.Function && names[d.Name] && t.Line >= d.First && t.Line <= d.Last {
					own = true
					break
				}
			}
			if !own {
				return fmt.Sprintf("it names %s outside the functions' own declarations (line %d)", t.Name, t.Line)
			}
		}
	}
	return ""
}

// pastesPiece tells whether t is pasted (##) and is a piece of one of the
// names, at its start or end: the paste may make the name.
func pastesPiece(t cdecl.Token, names map[string]bool) bool {
	if !t.Pasted || len(t.Name) < 3 {
		return false
	}
	for n := range names {
		if strings.HasPrefix(n, t.Name) || strings.HasSuffix(n, t.Name) {
			return true
		}
	}
	return false
}

// filesNaming returns the .c and .h files of tree, but skip, that name
// one of names (an identifier outside comments and strings, or a pasted
// piece of one), with the names each may name.
func filesNaming(tree string, names []string, skip map[string]bool) (map[string][]string, error) {
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	files, err := sourceFiles(tree)
	if err != nil {
		return nil, err
	}
	files = slices.DeleteFunc(files, func(f string) bool { return skip[f] })
	var (
		mu    sync.Mutex
		found = map[string][]string{}
		first error
		wg    sync.WaitGroup
	)
	work := make(chan string)
	paste := []byte("##")
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for rel := range work {
				b, err := os.ReadFile(filepath.Join(tree, rel))
				if err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
					continue
				}
				maybe := bytes.Contains(b, paste)
				for _, n := range names {
					maybe = maybe || bytes.Contains(b, []byte(n))
				}
				if !maybe {
					continue
				}
				named := map[string]bool{}
				for _, t := range cdecl.Tokens(b) {
					for n := range set {
						if t.Name == n || pastesPiece(t, map[string]bool{n: true}) {
							named[n] = true
						}
					}
				}
				if len(named) > 0 {
					mu.Lock()
					found[rel] = slices.Sorted(maps.Keys(named))
					mu.Unlock()
				}
			}
		})
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	return found, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// byName narrows reached, the objects that only changed headers reach, to
// those whose sources may name a function whose declaration or
// definition a header's edit changes (see changedFunctions). headers maps
// each changed header to the objects that include it (Plan.Headers). An
// object a header reaches whose edit changes more (a type, a macro), or
// is not where the patch says, is kept whatever it names: rcu/tree.c's
// own tree_plugin.h changes code, and reaches tree.o alone, while
// rcutree.h's renamed prototype reaches twelve thousand objects.
func byName(source string, p *srcpatch.Patch, headers map[string][]string, reached []string, includers func(string) ([]string, error), log io.Writer) ([]string, error) {
	in := map[string]bool{}
	for _, o := range reached {
		in[o] = true
	}
	var names, eligible []string
	own := map[string][]string{} // eligible header -> its changed functions
	skip := map[string]bool{}
	edits := map[string]*srcpatch.Edit{}
	keep := map[string]bool{} // reached through a header that changes more
	for _, h := range slices.Sorted(maps.Keys(headers)) {
		if !strings.HasSuffix(h, ".h") {
			continue
		}
		e, err := p.Edit(source, h)
		var why string
		switch {
		case errors.Is(err, srcpatch.ErrOffset):
			why = err.Error()
		case err != nil:
			return nil, err
		default:
			var ns []string
			if ns, why = changedFunctions(e); why == "" {
				names = append(names, ns...)
				own[h] = ns
				eligible = append(eligible, h)
				skip[h] = true
				edits[h] = e
				continue
			}
		}
		n := 0
		for _, o := range headers[h] {
			if in[o] && !keep[o] {
				keep[o] = true
				n++
			}
		}
		if n > 0 {
			fmt.Fprintf(log, "create: %s: %s: the %d objects that include it are scanned\n", h, why, n)
		}
	}
	if len(eligible) == 0 {
		return reached, nil
	}
	slices.Sort(names)
	names = slices.Compact(names)
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	// Each changed header is read as the tree's other files are, but
	// for the declarations that change: a function of one header that
	// an inline of another calls reaches that one's includers.
	for _, h := range eligible {
		if why := namedElsewhere(edits[h], set); why != "" {
			n := 0
			for _, o := range headers[h] {
				if in[o] && !keep[o] {
					keep[o] = true
					n++
				}
			}
			fmt.Fprintf(log, "create: %s: %s: the %d objects that include it are scanned\n", h, why, n)
		}
	}
	files, err := filesNaming(source, names, skip)
	if err != nil {
		return nil, fmt.Errorf("find the files that name %s: %w", strings.Join(names, ", "), err)
	}
	// An object sees a header's functions only if it includes the
	// header: a file that names one reaches, of the header's includers,
	// those that include the file too (a static of the same name in
	// another header is another function).
	candidates := maps.Clone(keep)
	users := map[string]map[string]bool{} // file -> objects that include it or are it
	for f := range files {
		us, err := includers(f)
		if err != nil {
			return nil, err
		}
		m := map[string]bool{}
		if strings.HasSuffix(f, ".c") {
			m[strings.TrimSuffix(f, ".c")+".o"] = true
		}
		for _, u := range us {
			m[strings.TrimSuffix(u, ".c")+".o"] = true
		}
		users[f] = m
	}
	for _, h := range eligible {
		for f, named := range files {
			if !slices.ContainsFunc(named, func(n string) bool { return slices.Contains(own[h], n) }) {
				continue
			}
			for _, o := range headers[h] {
				if in[o] && users[f][o] {
					candidates[o] = true
				}
			}
		}
	}
	var kept []string
	for _, o := range reached {
		if candidates[o] {
			kept = append(kept, o)
		}
	}
	fmt.Fprintf(log, "create: %s change only the functions %s; %d files name them, and %d of the %d objects that only changed headers reach are scanned (the others are not)\n",
		strings.Join(eligible, ", "), strings.Join(names, ", "), len(files), len(kept), len(reached))
	return kept, nil
}
