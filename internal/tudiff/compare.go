package tudiff

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/sergi/go-diff/diffmatchpatch"
)

// Options of Compare.
type Options struct {
	// Layout tells how a structure or union whose definition changed
	// ("struct dst_entry") is laid out for the code that uses it. It is
	// asked only about a type the unit's code uses. Nil: every changed
	// type is laid out otherwise.
	Layout func(aggregate string) (Layout, error)
}

// Layout is how a changed structure or union compares for its users.
type Layout struct {
	// Same: the size, the alignment and every member's name, place and
	// size are the same, and so is every member's type but those of
	// Retyped.
	Same bool
	// Retyped are the members whose type changed to one that holds the
	// same bits the same way (a pointer to another pointer, a function
	// pointer to one of another signature, an integer to another of its
	// size and signedness): code that does not name them compiles the
	// same, a positional initializer included.
	Retyped []string
}

// Result of Compare.
type Result struct {
	// Affected: the unit's code may differ.
	Affected bool
	// Reason says why it may, naming the changed declaration and the
	// code that reaches it, or why it cannot.
	Reason string
	// Changed is the number of declarations that differ.
	Changed int
	// Layouts are the changed types the code uses that Layout found
	// laid out the same, and whose changed members it does not name.
	Layouts []string
	// Relaid is the changed type ("struct devlink_port") the code uses
	// that Layout found laid out otherwise, when that is why the unit is
	// affected: its objects in the running kernel keep the old layout.
	Relaid string
}

// Compare tells whether the code of a unit may differ between pre and
// post, its preprocessed text before and after a change of what it
// includes. It fails only if Layout does.
//
// A changed structure the code uses, laid out the same, changes the code
// only where the code names a member whose declaration changed (the
// signature of a function pointer in an ops structure, an attribute a
// member gains): those names are looked for in every declaration the code
// reaches.
func Compare(pre, post *Unit, o Options) (Result, error) {
	del, ins, ok := changedDecls(pre, post)
	res := Result{Changed: len(del) + len(ins)}
	if !ok {
		res.Affected, res.Reason = true, "too many different declarations to compare"
		return res, nil
	}
	if res.Changed == 0 {
		res.Reason = "the preprocessed unit is the same"
		return res, nil
	}
	// A name that only declarations after the change define is new:
	// code that did not change cannot have meant it (before, the same
	// tokens named a local, a member or a parameter, which still
	// shadows it), so only a changed declaration can use it, and that
	// one is a change of its own.
	before := map[string]bool{}
	for _, d := range pre.Decls {
		for _, n := range d.defines {
			before[n] = true
		}
	}
	changed := map[string]*Decl{}       // name -> a changed declaration defining it
	aggregates := map[string][2]*Decl{} // tag -> its changed definitions, before and after
	valued := valueChanged(del, ins, func(string) bool { return true })
	for side, ds := range [2][]*Decl{del, ins} {
		for _, d := range ds {
			switch {
			case d.root:
				res.Affected = true
				res.Reason = fmt.Sprintf("changed code: %s", d.where())
				return res, nil
			case d.unknown:
				res.Affected = true
				res.Reason = fmt.Sprintf("a changed declaration whose names are unknown: %s", d.where())
				return res, nil
			case d.inert:
			case d.aggregate != "":
				a := aggregates[d.defines[0]]
				a[side] = d
				aggregates[d.defines[0]] = a
				for _, n := range d.nested {
					if before[n] && valued(n) {
						changed[n] = d
					}
				}
			default:
				for _, n := range d.defines {
					if before[n] && valued(n) {
						changed[n] = d
					}
				}
			}
		}
	}
	for tag, a := range aggregates {
		if a[0] == nil && !before[tag] {
			delete(aggregates, tag) // a new type
			continue
		}
		if a[0] == nil || a[1] == nil || a[0].aggregate != a[1].aggregate {
			// Added, removed, or now the other kind: its name changed.
			d := a[0]
			if d == nil {
				d = a[1]
			}
			changed[tag] = d
			delete(aggregates, tag)
		}
	}

	// Follow the names the code uses, from the declarations that make
	// code, through every declaration (before or after) defining them.
	byName := map[string][]*Decl{}
	var roots []*Decl
	seen := map[uint64]bool{}
	for _, u := range []*Unit{pre, post} {
		for _, d := range u.Decls {
			if seen[d.hash] {
				continue
			}
			seen[d.hash] = true
			for _, n := range d.defines {
				byName[n] = append(byName[n], d)
			}
			if d.root {
				roots = append(roots, d)
			}
		}
	}
	from := map[string]*Decl{} // name -> the declaration that first used it
	var queue []string
	var used []*Decl // the declarations the code reaches
	// The compiler calls these for copies and clears of any object, as
	// their declarations say.
	compilerCalls := &Decl{File: "<the compiler's own calls>", info: info{refs: compilerCalled}}
	use := func(by *Decl) {
		used = append(used, by)
		for _, r := range by.refs {
			if slices.Contains(by.nested, r) {
				// Its own constants and tags: the code that
				// names them uses them, and the layout
				// covers the rest.
				continue
			}
			if _, ok := from[r]; !ok {
				from[r] = by
				queue = append(queue, r)
			}
		}
	}
	use(compilerCalls)
	for _, r := range roots {
		use(r)
	}
	newName := map[string]*Decl{} // names only a changed declaration after defines
	for _, d := range ins {
		for _, n := range d.defines {
			if !before[n] {
				newName[n] = d
			}
		}
	}
	checked := map[string]bool{}
	named := map[string][2]*Decl{} // changed member -> the definitions of its type
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if d, ok := newName[n]; ok && from[n].blockExtern {
			// extern in a block means the file-scope one.
			res.Affected = true
			res.Reason = fmt.Sprintf("%s is new (%s) and a block-scope extern declaration may mean it (%s)", n, d.where(), chain(n, from))
			return res, nil
		}
		if d, ok := changed[n]; ok {
			res.Affected = true
			res.Reason = fmt.Sprintf("%s changes (%s) and the code uses it (%s)", n, d.where(), chain(n, from))
			return res, nil
		}
		if a, ok := aggregates[n]; ok && !checked[n] {
			checked[n] = true
			members, why, relaid, err := aggregateChange(a, o)
			if err != nil {
				return res, err
			}
			if why != "" {
				res.Affected = true
				if relaid {
					res.Relaid = a[0].aggregate
				}
				res.Reason = fmt.Sprintf("%s and the code uses it (%s)", why, chain(n, from))
				return res, nil
			}
			for _, m := range members {
				if _, ok := named[m]; !ok {
					named[m] = a
				}
			}
			res.Layouts = append(res.Layouts, a[0].aggregate)
		}
		for _, d := range byName[n] {
			use(d)
		}
	}
	// A changed member counts where the code names it: in an
	// expression, a designated initializer, offsetof, typeof. The
	// name's own definitions do not make code.
	for _, d := range used {
		for _, r := range d.refs {
			a, ok := named[r]
			if !ok || d == a[0] || d == a[1] {
				continue
			}
			res.Affected = true
			res.Reason = fmt.Sprintf("%s changes its member %s (%s) and the code names it (%s)", a[0].aggregate, r, a[1].where(), d.where())
			return res, nil
		}
	}
	res.Reason = fmt.Sprintf("%d declarations change; the code uses none of them", res.Changed)
	if len(res.Layouts) > 0 {
		res.Reason += fmt.Sprintf(" but %v, laid out the same", res.Layouts)
	}
	return res, nil
}

// chain says how the code reaches a name: the declarations from the one
// that makes code, at most a few.
func chain(n string, from map[string]*Decl) string {
	var path []string
	for i := 0; i < 8; i++ {
		d, ok := from[n]
		if !ok {
			break
		}
		name := d.File
		if len(d.defines) > 0 {
			name = d.defines[0]
		}
		path = append(path, name)
		if d.root || len(d.defines) == 0 {
			path[len(path)-1] = d.where()
			break
		}
		n = d.defines[0]
	}
	s := ""
	for i := len(path) - 1; i >= 0; i-- {
		if s != "" {
			s += " -> "
		}
		s += path[i]
	}
	return s
}

func (d *Decl) where() string {
	text := d.Text()
	if len(text) > 80 {
		text = text[:77] + "..."
	}
	return fmt.Sprintf("%s:%d: %s", d.File, d.Line, text)
}

// changedDecls returns the declarations of pre that post does not have
// in the same order, and those of post that pre does not: a shortest
// edit of the two sequences (a declaration that moves counts as
// changed: a pragma's region, or what precedes a use, may be its point).
func changedDecls(pre, post *Unit) (del, ins []*Decl, ok bool) {
	ids := map[uint64]rune{}
	byID := []*Decl{}
	runes := func(u *Unit) []rune {
		rs := make([]rune, len(u.Decls))
		for i, d := range u.Decls {
			id, ok := ids[d.hash]
			if !ok {
				// Runes past the surrogates: each stands for a text.
				id = rune(0xE000 + len(byID))
				ids[d.hash] = id
				byID = append(byID, d)
			}
			rs[i] = id
		}
		return rs
	}
	a, b := runes(pre), runes(post)
	if 0xE000+len(byID) > 0x10FFFF {
		return nil, nil, false
	}
	dmp := diffmatchpatch.New()
	// Past the deadline the edit is coarser (more changed), never
	// wrong.
	dmp.DiffTimeout = 10 * time.Second
	for _, d := range dmp.DiffMainRunes(a, b, false) {
		for _, r := range d.Text {
			switch d.Type {
			case diffmatchpatch.DiffDelete:
				del = append(del, byID[r-0xE000])
			case diffmatchpatch.DiffInsert:
				ins = append(ins, byID[r-0xE000])
			}
		}
	}
	return del, ins, true
}

// Extract returns the declarations of u that the definitions of name
// need, in the unit's order, as compilable text: those definitions and
// every declaration they refer to, transitively, except those that make
// code or data by themselves. A compiler given it and a use of the type
// lays the type out as the unit does (a probe of its layout).
func (u *Unit) Extract(name string) string {
	byName := map[string][]int{}
	for i, d := range u.Decls {
		for _, n := range d.defines {
			byName[n] = append(byName[n], i)
		}
	}
	keep := map[int]bool{}
	seen := map[string]bool{name: true}
	queue := []string{name}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, i := range byName[n] {
			d := u.Decls[i]
			if keep[i] || d.root {
				continue
			}
			keep[i] = true
			for _, r := range d.refs {
				if !seen[r] {
					seen[r] = true
					queue = append(queue, r)
				}
			}
		}
	}
	// Forward declarations of tags cost nothing and may be needed.
	var b strings.Builder
	for i, d := range u.Decls {
		fwd := d.inert && len(d.toks) == 3 && (d.toks[0].text == "struct" || d.toks[0].text == "union" || d.toks[0].text == "enum")
		// A pragma that changes what follows it (pack) must be where
		// it was.
		pragma := len(d.toks) == 1 && d.toks[0].kind == kPragma && d.root
		if keep[i] || fwd || pragma {
			b.WriteString(d.Text())
			b.WriteString("\n")
		}
	}
	return b.String()
}

// aggregateChange compares the two definitions of a changed structure or
// union for the code that uses it: the members whose declarations change
// (retyped ones included), which code must name to compile otherwise; or
// why code that names none may too: its words outside the body, or its
// layout (relaid), changed.
func aggregateChange(a [2]*Decl, o Options) (members []string, why string, relaid bool, err error) {
	members, why = membersChanged(a[0], a[1])
	if why != "" {
		return nil, fmt.Sprintf("%s changes (%s: %s)", a[0].aggregate, a[1].where(), why), false, nil
	}
	var l Layout
	if o.Layout != nil {
		if l, err = o.Layout(a[0].aggregate); err != nil {
			return nil, "", false, fmt.Errorf("layout of %s: %w", a[0].aggregate, err)
		}
	}
	if !l.Same {
		return nil, fmt.Sprintf("%s changes its layout (%s)", a[0].aggregate, a[1].where()), true, nil
	}
	return append(members, l.Retyped...), "", false, nil
}

// membersChanged returns the names of the members whose declaration in an
// aggregate's definition before a change is not in the one after, word
// for word (a function pointer's signature, an attribute or a bound), or
// says why the change is not one of named members: the words outside the
// body changed, an anonymous member went, or a changed declaration names
// no member the parser can find. Members of anonymous structures and
// unions count as the outer type's: a member may move into one.
func membersChanged(pre, post *Decl) (names []string, why string) {
	po, pm := members(pre.toks)
	qo, qm := members(post.toks)
	if po != qo {
		return nil, "its attributes change"
	}
	have := map[string]int{}
	for _, m := range qm {
		have[m.text]++
	}
	for _, m := range pm {
		if have[m.text] > 0 {
			have[m.text]--
			continue
		}
		ns := declarators(m.toks)
		if len(ns) == 0 {
			return nil, fmt.Sprintf("member %q is not kept", m.text)
		}
		names = append(names, ns...)
	}
	return names, ""
}

// member is one member declaration of an aggregate, or the marker of an
// anonymous structure or union ("union {anonymous}", no tokens).
type member struct {
	text string
	toks []token
}

// members splits an aggregate definition into the words outside its body
// and its member declarations, those of anonymous members flattened.
func members(toks []token) (outside string, ms []member) {
	open := -1
	for i, t := range toks {
		if t.text == "{" {
			open = i
			break
		}
	}
	if open < 0 {
		return joinTokens(toks), nil
	}
	end, ok := closing(toks, open)
	if !ok {
		return joinTokens(toks), nil
	}
	outside = joinTokens(toks[:open]) + " {} " + joinTokens(toks[end+1:])
	body := toks[open+1 : end]
	start, depth := 0, 0
	for i, t := range body {
		switch t.text {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
		case ";":
			if depth != 0 {
				continue
			}
			m := body[start : i+1]
			start = i + 1
			if len(m) > 1 && (m[0].text == "struct" || m[0].text == "union") && m[1].text == "{" && m[len(m)-2].text == "}" {
				// An anonymous member: its members are the
				// outer type's.
				_, inner := members(m[:len(m)-1])
				ms = append(ms, member{text: m[0].text + " {anonymous}"})
				ms = append(ms, inner...)
				continue
			}
			ms = append(ms, member{text: joinTokens(m), toks: m})
		}
	}
	return outside, ms
}

func joinTokens(toks []token) string {
	texts := make([]string, len(toks))
	for i, t := range toks {
		texts[i] = t.text
	}
	return strings.Join(texts, " ")
}

// declarators returns the names a member declaration declares ("int a, b
// : 3;" declares a and b; "struct sock *(*recv)(struct sock *sk);"
// declares recv), or nil if it cannot tell. A declarator's name is its
// last identifier outside brackets, parameter lists and attributes:
// those before it are the type's words (a typedef's name), those after
// it in a parameter list are parameters.
func declarators(toks []token) []string {
	var names []string
	name := ""
	var prev *token
	flush := func() bool {
		if name == "" {
			return false
		}
		names = append(names, name)
		name = ""
		return true
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.kind == kIdent && (groupWords[t.text] || t.text == "__attribute__"):
			// An attribute, asm label or typeof: skip its group.
			if i+1 < len(toks) && toks[i+1].text == "(" {
				i, _ = closing(toks, i+1)
			}
			continue
		case t.kind == kIdent && (t.text == "struct" || t.text == "union" || t.text == "enum"):
			if i+1 < len(toks) && toks[i+1].kind == kIdent {
				i++ // the tag
			}
			if i+1 < len(toks) && toks[i+1].text == "{" {
				i, _ = closing(toks, i+1) // a type defined in place
			}
		case t.kind == kIdent && !keywords[t.text]:
			name = t.text
		case t.text == "(" && prev != nil && (prev.text == ")" || prev.kind == kIdent && !keywords[prev.text]) &&
			(i+1 == len(toks) || toks[i+1].text != "*"):
			// A parameter list; "netdev_tx_t (*xmit)(...)" opens a
			// declarator after a type's name.
			i, _ = closing(toks, i)
		case t.text == "[":
			i, _ = closing(toks, i)
		case t.text == ":":
			// A bit field's width follows, up to the next declarator.
			for i+1 < len(toks) && toks[i+1].text != "," && toks[i+1].text != ";" {
				i++
			}
		case t.text == "," || t.text == ";":
			if !flush() {
				return nil
			}
		}
		prev = &toks[i]
	}
	if name != "" {
		flush()
	}
	return names
}

// closing returns the index of the bracket that closes the one at
// toks[open], or the last index and false if none does.
func closing(toks []token, open int) (int, bool) {
	depth := 0
	for i := open; i < len(toks); i++ {
		switch toks[i].text {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
			if depth == 0 {
				return i, true
			}
		}
	}
	return len(toks) - 1, false
}
