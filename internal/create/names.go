package create

import (
	"bytes"
	"cmp"
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
	"github.com/ksplice-go/ksplice/internal/tudiff"
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
// A header whose edit changes types' definitions too (netdevice.h's
// reg_state, an enum bit field that becomes a u8, its constants moved to
// an enum of their own) is read the same way once one includer's
// preprocessed unit, before and after, says which names the change gives
// new meaning and that the types are laid out the same for the code that
// names none of them (a witness: tudiff.ChangesIn, with the scan's layout
// probes). A member's name counts only where a member can be named (after
// . or ->, in a macro), not where another structure declares a member of
// that name.
//
// The search errs one way. A file names a name if the name is one of its
// identifiers outside comments and strings, or if it is where a macro
// that pastes a piece of the name (rcu_momentary_##x) gets the rest (eqs);
// the header's includers that include such a file, or are it, are
// candidates. A changed header that changes more (a macro, a definition
// with external linkage, which every includer compiles, a type laid out
// otherwise) keeps all its includers. So does one that names a changed
// name in a declaration that is not a function's or a macro's; a
// function or macro of the header that names one is a changed name
// itself. Candidates are then scanned as any includer is.

// headerChange returns the functions whose declarations or definitions
// the edit of a header changes and the types ("struct s") whose
// definitions it changes, or why the edit changes more than that.
func headerChange(e *srcpatch.Edit) (funcs, types []string, why string) {
	fset, tset := map[string]bool{}, map[string]bool{}
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
				switch {
				case d.Kind == cdecl.Directive:
					return nil, nil, fmt.Sprintf("line %d is a preprocessor directive", l)
				case d.Kind == cdecl.Other && d.Tag != "":
					tset[d.Tag] = true
				case d.Kind == cdecl.Other:
					return nil, nil, fmt.Sprintf("line %d is in a declaration that is neither a function's nor only a type's definition", l)
				case d.Body && !d.Static:
					// One definition, compiled into
					// every object that includes it,
					// whether it names it or not.
					return nil, nil, fmt.Sprintf("line %d is in the definition of %s, with external linkage", l, d.Name)
				default:
					fset[d.Name] = true
				}
			}
		}
	}
	if len(fset) == 0 && len(tset) == 0 {
		return nil, nil, "it changes no declaration"
	}
	return slices.Sorted(maps.Keys(fset)), slices.Sorted(maps.Keys(tset)), ""
}

// nameSet is the names a search looks for: members are names only where
// a member can be named.
type nameSet struct {
	names, members map[string]bool
	// direct are the files whose macros paste names of the set from
	// pieces that leave no argument to look for (see pastesOf), with
	// the names.
	direct map[string][]string
	// rests are, of a name that a ## of the tree pastes from a piece
	// (net_debug.h's netif_level() pastes netdev_##level, which makes
	// netdev_warn), the rest of it (warn), with the names it completes
	// and where the pieces are pasted: where the macro is used, the rest
	// is an argument, and the file that defines it is included.
	rests map[string][]pasted
	// callers are, of each macro that pastes a piece, the macros that
	// use it or use one that does (netif_err, of netif_level), itself
	// included: a rest is an argument of one of them. nil for a macro
	// whose callers were not all found (findCallers).
	callers map[string]map[string]bool
	// fresh are the functions a changed header declares that nothing
	// declared before the patch: no changed header's text, no file of
	// the tree (freshNames). Code the patch does not change cannot have
	// meant one: the same name there is a local, a parameter or a
	// member, which still shadows it (ipv6_stubs.h's parameter dst_dev,
	// of 6.1.190's new dst_dev()). Only a block-scope extern
	// declaration would mean it, and only such a use counts.
	fresh map[string]bool
}

// pasted is a name a file's ## may make from a piece of it, in the
// definition of macro.
type pasted struct {
	name, file, macro string
}

// hit is a name a file may name; if via is not "", only where via (the
// file that pastes a piece of it) is included too.
type hit struct {
	name, via string
}

func newNameSet() *nameSet {
	return &nameSet{names: map[string]bool{}, members: map[string]bool{}, direct: map[string][]string{}, rests: map[string][]pasted{}, callers: map[string]map[string]bool{},
		fresh: map[string]bool{}}
}

func (s *nameSet) add(n string) bool {
	if s.names[n] && !s.members[n] {
		return false
	}
	s.names[n] = true
	delete(s.members, n)
	return true
}

func (s *nameSet) addMember(n string) {
	if !s.names[n] {
		s.names[n], s.members[n] = true, true
	}
}

func (s *nameSet) sorted() []string { return slices.Sorted(maps.Keys(s.names)) }

// named returns which name t names, or "": a name, a piece of one pasted
// (##), __builtin_NAME, or a member's name where a member can be named.
// It reads a changed header's own text, whose macros that paste are
// changed names themselves (closeOver); the tree's other files are read
// with namedIn.
func (s *nameSet) named(t cdecl.Token) string {
	n := strings.TrimPrefix(t.Name, "__builtin_")
	if s.names[n] {
		if s.members[n] && !tudiff.MayNameMember(t.Prev, t.Directive) && !t.Pasted {
			return ""
		}
		if s.fresh[n] && !t.Extern && !t.Pasted {
			return ""
		}
		return n
	}
	// A parameter pasted is its argument, not a piece of a name.
	if t.Pasted && !t.Param && len(t.Name) >= 3 {
		for n := range s.names {
			if strings.HasPrefix(n, t.Name) || strings.HasSuffix(n, t.Name) {
				return n
			}
		}
	}
	return ""
}

// namedIn returns the names of set that a file of the tree, whose tokens
// are toks, names: those it names as named says, and those a macro
// pastes from a piece where the file has the rest of the name as an
// argument (see rests), with the file that pastes.
func (s *nameSet) namedIn(toks []cdecl.Token) []hit {
	set := map[hit]bool{}
	var words map[string]bool // the file's, once a rest is found
	for _, t := range toks {
		n := strings.TrimPrefix(t.Name, "__builtin_")
		switch {
		case !s.names[n]:
			if !argument(t) || len(s.rests[t.Name]) == 0 {
				break
			}
			if words == nil {
				words = map[string]bool{}
				for _, u := range toks {
					words[u.Name] = true
				}
			}
			for _, p := range s.rests[t.Name] {
				cs := s.callers[p.macro]
				if cs == nil || slices.ContainsFunc(slices.Collect(maps.Keys(cs)), func(c string) bool { return words[c] }) {
					set[hit{p.name, p.file}] = true
				}
			}
		case s.members[n] && !tudiff.MayNameMember(t.Prev, t.Directive) && !t.Pasted:
		case s.fresh[n] && !t.Extern && !t.Pasted:
		default:
			set[hit{name: n}] = true
		}
	}
	return slices.SortedFunc(maps.Keys(set), func(a, b hit) int {
		return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.via, b.via))
	})
}

// argument tells whether t may be, alone, a macro's argument: between (
// or a comma and ) or a comma, or the whole of an object-like macro's
// body (#define LVL WARN, passed through another macro that expands it).
// A paste makes a name of the argument it is given whole.
func argument(t cdecl.Token) bool {
	if t.Directive && t.Macro != "" && t.Prev == t.Macro {
		return true
	}
	return (t.Prev == "(" || t.Prev == ",") && (t.Next == ")" || t.Next == "," || t.Next == "")
}

// maxCallerRounds bounds findCallers: each round reads the tree.
const maxCallerRounds = 3

// findCallers adds to callers, of each macro that pastes a piece of a
// name, the macros of the tree's files whose definitions use it or one
// of its callers. Past maxCallerRounds rounds, the macros whose callers
// still grow have none recorded (nil): their rests count wherever they
// are an argument.
func (s *nameSet) findCallers(tree string, files []string) error {
	hash := []byte("#")
	for round := 0; ; round++ {
		known := map[string][]string{} // caller -> the pasting macros it reaches
		for p, cs := range s.callers {
			for c := range cs {
				known[c] = append(known[c], p)
			}
		}
		if len(known) == 0 {
			return nil
		}
		grew := map[string]bool{} // pasting macros with new callers
		var mu sync.Mutex
		err := readFiles(tree, files, func(rel string, b []byte) {
			if !bytes.Contains(b, hash) || !slices.ContainsFunc(slices.Collect(maps.Keys(known)), func(c string) bool { return bytes.Contains(b, []byte(c)) }) {
				return
			}
			for _, t := range cdecl.Tokens(b) {
				if t.Macro == "" || t.Name == t.Macro || known[t.Name] == nil {
					continue
				}
				mu.Lock()
				for _, p := range known[t.Name] {
					if cs := s.callers[p]; cs != nil && !cs[t.Macro] {
						cs[t.Macro] = true
						grew[p] = true
					}
				}
				mu.Unlock()
			}
		})
		if err != nil {
			return err
		}
		if len(grew) == 0 {
			return nil
		}
		if round+1 == maxCallerRounds {
			for p := range grew {
				s.callers[p] = nil
			}
			return nil
		}
	}
}

// pastesOf records what paste p, of a macro of the tree's file rel, may
// make of set's names. A paste of literal pieces only, or with more than
// one unknown part (a parameter's argument, a number), that may make a
// name makes the file name it (direct). One with a single unknown part
// makes a name only where the rest of the name is an argument, in a file
// that includes the one that pastes (rests). A paste whose literal pieces are shorter than 3
// characters in all (e##reg) is not read: a piece that short is in most
// names.
func (s *nameSet) pastesOf(p cdecl.Paste, rel string) {
	literal, unknown := 0, 0
	for _, pt := range p.Parts {
		if pt.Literal {
			literal += len(pt.Text)
		} else {
			unknown++
		}
	}
	if literal < 3 {
		return
	}
	// A member's name is made where a member is named (s->dev_##x),
	// or at the start of a macro's body, which a caller may put after
	// ->; not where the paste calls a function (dev_##level(...)).
	member := p.Prev == "." || p.Prev == "->" || p.Prev == "(" || p.Prev == "," || p.Prev == ")" || p.Prev == p.Macro
	for n := range s.names {
		if s.members[n] && !member {
			continue
		}
		rest, ok := pasteMakes(p.Parts, n)
		switch {
		case !ok:
		case unknown != 1 || rest == "":
			if !slices.Contains(s.direct[rel], n) {
				s.direct[rel] = append(s.direct[rel], n)
			}
		default:
			if pd := (pasted{n, rel, p.Macro}); !slices.Contains(s.rests[rest], pd) {
				s.rests[rest] = append(s.rests[rest], pd)
			}
			s.callers[p.Macro] = map[string]bool{p.Macro: true}
		}
	}
}

// pasteMakes tells whether the parts of a paste may make name, and with a
// single unknown part, what it must be. An unknown part may be anything,
// nothing included.
func pasteMakes(parts []cdecl.Part, name string) (rest string, ok bool) {
	i, last := 0, len(parts)-1
	pre, post := 0, 0 // literal lengths matched at the start and the end
	for i <= last && parts[i].Literal {
		if !strings.HasPrefix(name[pre:], parts[i].Text) {
			return "", false
		}
		pre += len(parts[i].Text)
		i++
	}
	if i > last {
		return "", pre == len(name)
	}
	for last > i && parts[last].Literal {
		if len(name)-post-len(parts[last].Text) < pre || !strings.HasSuffix(name[:len(name)-post], parts[last].Text) {
			return "", false
		}
		post += len(parts[last].Text)
		last--
	}
	if len(name)-post < pre {
		return "", false
	}
	// parts[i] and parts[last] are unknown; the literals between them
	// must come in order.
	mid := name[pre : len(name)-post]
	if i == last {
		return mid, true
	}
	at := 0
	for _, pt := range parts[i+1 : last] {
		if !pt.Literal {
			continue
		}
		j := strings.Index(mid[at:], pt.Text)
		if j < 0 {
			return "", false
		}
		at += j + len(pt.Text)
	}
	return mid, true
}

// closeOver reads the header, before and after its edit, for the names
// of set outside the declarations the edit changes: a function or macro
// of the header that names one (another inline that calls a changed
// one, netdevice.h's netdev_WARN) is added to set, as its includers that
// name it change too. It returns the names added, or why the header
// names one where no name can stand for it (a variable's declaration,
// another type, a conditional).
func closeOver(e *srcpatch.Edit, set *nameSet) (added []string, why string) {
	for _, side := range []struct {
		src   []byte
		lines []int
	}{{e.Old, e.Removed}, {e.New, e.Added}} {
		decls := cdecl.Scan(side.src)
		touched := make([]bool, len(decls))
		for i, d := range decls {
			for _, l := range side.lines {
				if l >= d.First && l <= d.Last {
					touched[i] = true
				}
			}
		}
		for _, t := range cdecl.Tokens(side.src) {
			n := set.named(t)
			if n == "" {
				continue
			}
			at := declAt(decls, t.Line)
			if at < 0 {
				return added, fmt.Sprintf("it names %s outside any declaration (line %d)", n, t.Line)
			}
			if touched[at] {
				continue
			}
			m, why := standsFor(decls[at], n, t.Line)
			if why != "" {
				return added, why
			}
			if set.add(m) {
				added = append(added, m)
			}
		}
	}
	return added, ""
}

// declAt returns the index of the declaration of decls that line is in,
// -1 if none: a directive inside a declaration is the directive.
func declAt(decls []cdecl.Decl, line int) int {
	at := -1
	for i, d := range decls {
		if line >= d.First && line <= d.Last {
			at = i
			if d.Kind == cdecl.Directive {
				break
			}
		}
	}
	return at
}

// standsFor returns the function or macro of a header that stands for n
// where d names it on line: the files that use n through the header name
// it instead. A static or inline function is compiled only into the
// objects that use it, a macro only where it is expanded. Anything else
// (a variable, a type, a conditional, a function with external linkage)
// is why none does.
func standsFor(d cdecl.Decl, n string, line int) (name, why string) {
	switch {
	case d.Kind == cdecl.Function && d.Body && !d.Static:
		return "", fmt.Sprintf("it names %s in the definition of %s, with external linkage (line %d)", n, d.Name, line)
	case d.Kind == cdecl.Function:
		return d.Name, ""
	case d.Kind == cdecl.Directive && d.Macro != "":
		return d.Macro, ""
	}
	return "", fmt.Sprintf("it names %s outside the changed declarations, where no function or macro stands for it (line %d)", n, line)
}

// standIns reads a header the patch does not change that names some of
// set's names (hits, as filesNaming found them): if each is named only in
// the header's functions and macros (standsFor), it returns those, each
// with the names of set it names, and ok. asm/elf.h names utsname() only
// in ELF_PLATFORM: the objects that include it change only where they name
// ELF_PLATFORM, not wherever they include it.
func standIns(src []byte, hits []hit, set *nameSet) (map[string][]string, bool) {
	decls := cdecl.Scan(src)
	out := map[string][]string{}
	seen := map[string]bool{}
	for _, t := range cdecl.Tokens(src) {
		n := set.named(t)
		if n == "" {
			continue
		}
		at := declAt(decls, t.Line)
		if at < 0 {
			return nil, false
		}
		m, why := standsFor(decls[at], n, t.Line)
		if why != "" {
			return nil, false
		}
		if !slices.Contains(out[m], n) {
			out[m] = append(out[m], n)
		}
		seen[n] = true
	}
	// What filesNaming found some other way (a piece of a name pasted
	// elsewhere, with the rest an argument here) has no stand-in.
	for _, h := range hits {
		if h.via != "" || !seen[h.name] {
			return nil, false
		}
	}
	return out, len(out) > 0
}

// standInRounds bounds the searches for the stand-ins of other headers
// (standIns): each reads the whole tree again.
const standInRounds = 3

// witnessFunc reads a header's change in the preprocessed unit of one of
// objs, before and after the patch (tudiff.ChangesIn), and says which
// object it read.
type witnessFunc func(header string, objs []string) (ch tudiff.Changes, from string, err error)

// filesNaming returns the .c and .h files of tree, but skip, that name
// one of set's names (see nameSet.namedIn), with the names each may name.
// The files that paste (##) are read first, for the pieces of names they
// paste (set's rests).
func filesNaming(tree string, set *nameSet, skip map[string]bool) (map[string][]hit, error) {
	files, err := sourceFiles(tree)
	if err != nil {
		return nil, err
	}
	files = slices.DeleteFunc(files, func(f string) bool { return skip[f] })
	paste := []byte("##")
	var mu sync.Mutex
	err = readFiles(tree, files, func(rel string, b []byte) {
		if !bytes.Contains(b, paste) {
			return
		}
		pastes := cdecl.Pastes(b)
		mu.Lock()
		defer mu.Unlock()
		for _, p := range pastes {
			set.pastesOf(p, rel)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := set.findCallers(tree, files); err != nil {
		return nil, err
	}
	words := set.sorted()
	for r := range set.rests {
		words = append(words, r)
	}
	found := map[string][]hit{}
	err = readFiles(tree, files, func(rel string, b []byte) {
		maybe := set.direct[rel] != nil
		for _, w := range words {
			if bytes.Contains(b, []byte(w)) {
				maybe = true
				break
			}
		}
		if !maybe {
			return
		}
		hits := set.namedIn(cdecl.Tokens(b))
		for _, n := range set.direct[rel] {
			if h := (hit{name: n}); !slices.Contains(hits, h) {
				hits = append(hits, h)
			}
		}
		if len(hits) > 0 {
			mu.Lock()
			found[rel] = hits
			mu.Unlock()
		}
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

// freshNames returns those of funcs, functions the changed headers (olds,
// their texts before the patch; skip, their paths) declare, that nothing
// declared before the patch: no changed header names them, and no other
// .c or .h file of the tree declares a function or defines a macro of
// that name at file scope (see nameSet.fresh).
func freshNames(tree string, skip map[string]bool, olds [][]byte, funcs []string) ([]string, error) {
	cand := map[string]bool{}
	for _, f := range funcs {
		cand[f] = true
		for _, old := range olds {
			if slices.ContainsFunc(cdecl.Tokens(old), func(t cdecl.Token) bool { return t.Name == f }) {
				delete(cand, f)
				break
			}
		}
	}
	if len(cand) == 0 {
		return nil, nil
	}
	files, err := sourceFiles(tree)
	if err != nil {
		return nil, err
	}
	files = slices.DeleteFunc(files, func(f string) bool { return skip[f] })
	var mu sync.Mutex
	declared := map[string]bool{}
	err = readFiles(tree, files, func(rel string, b []byte) {
		var in []string
		for f := range cand {
			if bytes.Contains(b, []byte(f)) {
				in = append(in, f)
			}
		}
		if len(in) == 0 {
			return
		}
		for _, d := range cdecl.Scan(b) {
			name := d.Name
			if d.Kind == cdecl.Directive {
				name = d.Macro
			}
			if (d.Kind == cdecl.Function || d.Kind == cdecl.Directive) && slices.Contains(in, name) {
				mu.Lock()
				declared[name] = true
				mu.Unlock()
			}
		}
	})
	if err != nil {
		return nil, err
	}
	var out []string
	for f := range cand {
		if !declared[f] {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out, nil
}

// readFiles calls fn with the contents of each of files (relative to
// tree), from as many goroutines as there are processors, and returns the
// first error reading one.
func readFiles(tree string, files []string, fn func(rel string, b []byte)) error {
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	work := make(chan string)
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
				fn(rel, b)
			}
		})
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	return first
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// byName narrows reached, the objects that only changed headers reach, to
// those whose sources may name a name whose meaning a header's edit
// changes (see headerChange). headers maps each changed header to the
// objects that include it (Plan.Headers). An object a header reaches
// whose edit changes more (a macro), or is not where the patch says, is
// kept whatever it names: rcu/tree.c's own tree_plugin.h changes code,
// and reaches tree.o alone, while rcutree.h's renamed prototype reaches
// twelve thousand objects.
//
// witness reads the headers whose edit changes types. If it is nil (the
// trees to preprocess in are not made yet), their includers are kept and
// later is true: byName is to be called again with one.
func byName(source string, p *srcpatch.Patch, headers map[string][]string, reached []string, includers func(string) ([]string, error), witness witnessFunc, log io.Writer) (kept []string, later bool, err error) {
	in := map[string]bool{}
	for _, o := range reached {
		in[o] = true
	}
	keep := map[string]bool{} // reached through a header that changes more
	keepAll := func(h, why string) {
		n := 0
		for _, o := range headers[h] {
			if in[o] && !keep[o] {
				keep[o] = true
				n++
			}
		}
		if n > 0 {
			fmt.Fprintf(log, "create: by name: %s: %s: the %d objects that include it are scanned\n", h, why, n)
		}
	}
	set := newNameSet()
	var eligible []string
	own := map[string]map[string]bool{} // eligible header -> the names its change gives new meaning
	skip := map[string]bool{}
	edits := map[string]*srcpatch.Edit{}
	var olds [][]byte         // every changed header's text before the patch
	var changedFuncs []string // the eligible headers' changed functions
	unread := false           // a changed header's text before is not known
	for _, h := range slices.Sorted(maps.Keys(headers)) {
		if !strings.HasSuffix(h, ".h") {
			continue
		}
		e, err := p.Edit(source, h)
		switch {
		case errors.Is(err, srcpatch.ErrOffset):
			keepAll(h, err.Error())
			unread = true
			continue
		case err != nil:
			return nil, false, err
		}
		olds = append(olds, e.Old)
		funcs, types, why := headerChange(e)
		if why != "" {
			keepAll(h, why)
			continue
		}
		mine := map[string]bool{}
		for _, f := range funcs {
			set.add(f)
			mine[f] = true
		}
		if len(types) > 0 {
			if witness == nil {
				later = true
				keepAll(h, fmt.Sprintf("it changes %s, read from an includer's preprocessed unit once the trees are made", strings.Join(types, ", ")))
				continue
			}
			var objs []string
			for _, o := range headers[h] {
				if in[o] {
					objs = append(objs, o)
				}
			}
			ch, from, err := witness(h, objs)
			if err != nil {
				return nil, false, fmt.Errorf("%s: read its change of %s: %w", h, strings.Join(types, ", "), err)
			}
			if ch.Why != "" {
				keepAll(h, fmt.Sprintf("%s (in %s's unit)", ch.Why, from))
				continue
			}
			if missed := slices.DeleteFunc(slices.Clone(types), func(t string) bool {
				_, tag, _ := strings.Cut(t, " ")
				return slices.Contains(ch.Defined, tag)
			}); len(missed) > 0 {
				keepAll(h, fmt.Sprintf("%s's preprocessed unit does not show its change of %s", from, strings.Join(missed, ", ")))
				continue
			}
			members := map[string]bool{}
			for _, m := range ch.Members {
				members[m] = true
			}
			for _, n := range ch.Names {
				if members[n] {
					set.addMember(n)
				} else {
					set.add(n)
				}
				mine[n] = true
			}
			fmt.Fprintf(log, "create: by name: %s: its change of %s, read in %s's unit, gives new meaning to %s\n", h, strings.Join(types, ", "), from, strings.Join(ch.Names, ", "))
		}
		own[h] = mine
		eligible = append(eligible, h)
		skip[h] = true
		edits[h] = e
		changedFuncs = append(changedFuncs, funcs...)
	}
	if len(eligible) == 0 {
		return reached, later, nil
	}
	if !unread {
		fresh, err := freshNames(source, skip, olds, changedFuncs)
		if err != nil {
			return nil, false, fmt.Errorf("find what declares %s: %w", strings.Join(changedFuncs, ", "), err)
		}
		for _, f := range fresh {
			set.fresh[f] = true
		}
		if len(fresh) > 0 {
			fmt.Fprintf(log, "create: by name: %s: new, declared nowhere before the patch: they count only in a block-scope extern declaration\n", strings.Join(fresh, ", "))
		}
	}
	// Each changed header is read as the tree's other files are, but
	// for the declarations that change: a function or macro of one that
	// names a changed name (of any header) is a changed name of its
	// own, until no more are added.
	closed := map[string][]string{} // header -> the names closeOver added
	for grew := true; grew; {
		grew = false
		for _, h := range slices.Clone(eligible) {
			added, why := closeOver(edits[h], set)
			for _, n := range added {
				own[h][n] = true
			}
			closed[h] = append(closed[h], added...)
			grew = grew || len(added) > 0
			if why != "" {
				keepAll(h, why)
				eligible = slices.DeleteFunc(eligible, func(x string) bool { return x == h })
			}
		}
	}
	for _, h := range eligible {
		if len(closed[h]) > 0 {
			fmt.Fprintf(log, "create: by name: %s: its functions and macros that name them change too: %s\n", h, strings.Join(closed[h], ", "))
		}
	}
	files, err := filesNaming(source, set, skip)
	if err != nil {
		return nil, false, fmt.Errorf("find the files that name %s: %w", strings.Join(set.sorted(), ", "), err)
	}
	// Other headers' functions and macros that name a name are names of
	// their own (standIns): the files are searched again for them, at
	// most standInRounds times; past that, such a header is a file that
	// names the names, and all its includers are candidates.
	for round := 1; round <= standInRounds; round++ {
		var grew []string
		searched := map[string]bool{} // the names files were searched for
		for n := range set.names {
			searched[n] = !set.members[n]
		}
		for _, f := range slices.Sorted(maps.Keys(files)) {
			if !strings.HasSuffix(f, ".h") || set.direct[f] != nil {
				continue
			}
			b, err := os.ReadFile(filepath.Join(source, f))
			if err != nil {
				return nil, false, err
			}
			ins, ok := standIns(b, files[f], set)
			if !ok {
				continue
			}
			var unsearched []string
			for m := range ins {
				if !searched[m] {
					unsearched = append(unsearched, m)
				}
			}
			if len(unsearched) > 0 && round == standInRounds {
				continue // its stand-ins would not be searched for
			}
			for _, m := range slices.Sorted(maps.Keys(ins)) {
				for _, h := range eligible {
					for _, n := range ins[m] {
						if own[h][n] {
							own[h][m] = true
						}
					}
				}
				if set.add(m) {
					grew = append(grew, m)
				}
			}
			delete(files, f)
			if len(unsearched) > 0 {
				slices.Sort(unsearched)
				fmt.Fprintf(log, "create: by name: %s names what changes only in %s: the files that name those are read, not all its includers\n", f, strings.Join(unsearched, ", "))
			}
		}
		if len(grew) == 0 {
			break
		}
		if files, err = filesNaming(source, set, skip); err != nil {
			return nil, false, fmt.Errorf("find the files that name %s: %w", strings.Join(set.sorted(), ", "), err)
		}
	}
	// An object sees a header's names only if it includes the header:
	// a file that names one reaches, of the header's includers, those
	// that include the file too (a static of the same name in another
	// header is another function).
	candidates := maps.Clone(keep)
	users := map[string]map[string]bool{} // file -> objects that include it or are it
	usersOf := func(f string) (map[string]bool, error) {
		if m, ok := users[f]; ok {
			return m, nil
		}
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
		return m, nil
	}
	for _, h := range eligible {
		for _, f := range slices.Sorted(maps.Keys(files)) {
			for _, x := range files[f] {
				if !own[h][x.name] {
					continue
				}
				us, err := usersOf(f)
				if err != nil {
					return nil, false, err
				}
				var via map[string]bool
				if x.via != "" {
					if via, err = usersOf(x.via); err != nil {
						return nil, false, err
					}
				}
				for _, o := range headers[h] {
					if in[o] && us[o] && (via == nil || via[o]) {
						candidates[o] = true
					}
				}
			}
		}
	}
	for _, o := range reached {
		if candidates[o] {
			kept = append(kept, o)
		}
	}
	names := set.sorted()
	if len(names) > 12 {
		names = append(names[:12], fmt.Sprintf("and %d more", len(set.names)-12))
	}
	fmt.Fprintf(log, "create: by name: %s change only what names %s; %d files name them, and %d of the %d objects that only changed headers reach are scanned (the others are not)\n",
		strings.Join(eligible, ", "), strings.Join(names, ", "), len(files), len(kept), len(reached))
	return kept, later, nil
}
