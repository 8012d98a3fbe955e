package tudiff

import (
	"fmt"
	"maps"
	"slices"
)

// Changes is what a change of some files' declarations means to the code
// that includes them, as one unit's preprocessed text shows it.
type Changes struct {
	// Names are the names whose meaning the change alters: the
	// functions, variables, types, constants and typedefs whose
	// declarations change or are new, and the members of structures
	// laid out the same whose declarations change. Code that names none
	// of them compiles the same.
	Names []string
	// Members are those of Names that are only members' names: code
	// names them only after . or ->, in offsetof and in a macro's
	// arguments.
	Members []string
	// Defined are the names and tags the changed declarations define,
	// whether or not code must name them: a changed type's tag is here,
	// and in Names only if the type's users all change.
	Defined []string
	// Why, if not "", is a change that code reaches without naming
	// anything in Names (a definition every includer compiles, a
	// structure laid out otherwise), naming the declaration.
	Why string
}

// ChangesIn returns what the change between pre and post of the
// declarations from the files that in accepts means to code that uses
// them (see Changes). Declarations from other files are not read: a unit
// also holds its own code, and other headers' changes. It fails only if
// o.Layout does.
func ChangesIn(pre, post *Unit, in func(file string) bool, o Options) (Changes, error) {
	var ch Changes
	del, ins, ok := changedDecls(pre, post)
	if !ok {
		ch.Why = "too many different declarations to compare"
		return ch, nil
	}
	names, members, defined := map[string]bool{}, map[string]bool{}, map[string]bool{}
	changed := valueChanged(del, ins, in)
	aggregates := map[string][2]*Decl{}
	for side, ds := range [2][]*Decl{del, ins} {
		for _, d := range ds {
			if !in(d.File) {
				continue
			}
			switch {
			case d.root:
				ch.Why = fmt.Sprintf("changed code or data, which every includer compiles: %s", d.where())
				return ch, nil
			case d.unknown:
				ch.Why = fmt.Sprintf("a changed declaration whose names are unknown: %s", d.where())
				return ch, nil
			case d.inert:
			case d.aggregate != "":
				a := aggregates[d.defines[0]]
				a[side] = d
				aggregates[d.defines[0]] = a
				for _, n := range d.nested {
					defined[n] = true
					if changed(n) {
						names[n] = true
					}
				}
			default:
				for _, n := range d.defines {
					defined[n] = true
					if changed(n) {
						names[n] = true
					}
				}
			}
		}
	}
	for _, tag := range slices.Sorted(maps.Keys(aggregates)) {
		a := aggregates[tag]
		defined[tag] = true
		if a[0] == nil || a[1] == nil || a[0].aggregate != a[1].aggregate {
			// New, gone, or of another kind: its users name it.
			names[tag] = true
			continue
		}
		changed, why, _, err := aggregateChange(a, o)
		if err != nil {
			return ch, err
		}
		if why != "" {
			ch.Why = why
			return ch, nil
		}
		// Members that are new only new code can name; they are
		// names all the same (a file that names one changed).
		for _, m := range append(changed, membersAdded(a[0], a[1])...) {
			members[m] = true
		}
	}
	for m := range members {
		if !names[m] {
			ch.Members = append(ch.Members, m)
		}
		names[m] = true
	}
	// A declaration of the files read that did not change but uses a
	// changed name changes with it (an inline that calls a changed
	// one, a structure with a member of a changed typedef): its names
	// count too, until no more do. Other files' declarations are
	// their files' own: a file that names a changed name is the
	// caller's to find.
	counted := map[uint64]bool{}
	for _, d := range del {
		counted[d.hash] = true
	}
	for _, d := range ins {
		counted[d.hash] = true
	}
	for grew := true; grew; {
		grew = false
		for _, d := range post.Decls {
			if counted[d.hash] || d.inert || !in(d.File) || !slices.ContainsFunc(d.refs, func(r string) bool { return names[r] }) {
				continue
			}
			counted[d.hash] = true
			if d.root || d.unknown {
				ch.Why = fmt.Sprintf("%s uses a changed name, and every includer compiles it", d.where())
				return ch, nil
			}
			for _, n := range append(slices.Clone(d.defines), d.nested...) {
				if !names[n] {
					names[n], grew = true, true
				}
			}
		}
	}
	// The compiler calls these itself, to copy and clear: code that
	// never names them may call them.
	for _, n := range compilerCalled {
		if names[n] {
			ch.Why = fmt.Sprintf("%s changes, which the compiler calls without its name in the code", n)
			return ch, nil
		}
	}
	ch.Names = slices.Sorted(maps.Keys(names))
	ch.Defined = slices.Sorted(maps.Keys(defined))
	slices.Sort(ch.Members)
	return ch, nil
}

// valueChanged returns whether a name that the changed declarations del
// and ins (of the files in accepts) define changes: any but an enum's
// constant whose value is the same on both sides, which is the same int
// wherever it is declared (netdevice.h moves reg_state's constants out of
// struct net_device into an enum of their own).
func valueChanged(del, ins []*Decl, in func(string) bool) func(n string) bool {
	var values [2]map[string]string
	for side, ds := range [2][]*Decl{del, ins} {
		values[side] = map[string]string{}
		for _, d := range ds {
			if in(d.File) {
				maps.Copy(values[side], d.values)
			}
		}
	}
	return func(n string) bool {
		v, ok := values[0][n]
		return !ok || values[1][n] != v
	}
}

// compilerCalled are the functions the compiler calls for copies and
// clears of any object, as their declarations say.
var compilerCalled = []string{"memcpy", "memset", "memmove", "memcmp"}

// membersAdded returns the names that members of the aggregate declare
// after a change and did not before.
func membersAdded(pre, post *Decl) []string {
	_, pm := members(pre.toks)
	_, qm := members(post.toks)
	had := map[string]bool{}
	for _, m := range pm {
		for _, n := range declarators(m.toks) {
			had[n] = true
		}
	}
	var out []string
	for _, m := range qm {
		for _, n := range declarators(m.toks) {
			if !had[n] {
				out = append(out, n)
			}
		}
	}
	return out
}

// MayNameMember tells whether an identifier of C source, after the token
// prev (or on a directive's line), may name a structure's member: after .
// or ->, or as a macro's argument (offsetof, container_of, a macro that
// puts it after ->), or anywhere in a macro's definition (sock.h's
// "#define sk_refcnt __sk_common.skc_refcnt"). Elsewhere it declares or
// names something else: "u32 reg_state;" in another structure.
func MayNameMember(prev string, directive bool) bool {
	switch {
	case directive:
		return true
	case prev == "." || prev == "->" || prev == "(" || prev == ",":
		return true
	}
	return false
}
