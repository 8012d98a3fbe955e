package create

import (
	"debug/dwarf"
	"fmt"
	"regexp"
	"slices"
	"sort"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

// enumRefusals compares the values of the enumeration constants the
// objects pre and post were compiled with and refuses each
// constant both have whose value changes: a patch that inserts a
// constant before others, or removes one (6.1.190's RPROC_DELETED, which
// makes RPROC_ATTACHED 4 where it was 5), renumbers them, and the values
// the running kernel stored with the old numbering (a remote processor's
// state, a codec's fixup id taken at probe time) would be read by new
// code with the new one. No diff of code tells
// that from a fix: the new code is consistent with itself.
//
// Two kinds of constant name no value that is kept and are not refused:
// an alias of another constant (its value is an earlier constant's on
// both sides: FOO_DEFAULT = FOO_B), whose own value is what code reads,
// and a bound (greater than every constant before it on both sides, and
// named as one: __IFLA_HSR_MAX, NR_FOO, FOO_COUNT), which grows when a
// constant is added before it and sizes arrays rather than being stored;
// an array it sizes in a structure changes that structure's layout,
// which the layout check refuses.
func enumRefusals(pre, post *debugTypes) []elfdiff.Refusal {
	a, b := pre.enums, post.enums
	var refusals []elfdiff.Refusal
	var names []string
	for n, x := range a {
		y, both := b[n]
		if !both || x.value == y.value || x.alias && y.alias || x.bound && y.bound {
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		x, y := a[n], b[n]
		refusals = append(refusals, elfdiff.Refusal{
			Symbol: n, Rule: elfdiff.RuleEnumValue,
			Reason: fmt.Sprintf("the value of %s (%s) changes from %d to %d: values the running kernel stored with the old numbering would be read with the new one", n, x.enum, x.value, y.value),
		})
	}
	return refusals
}

// enumerator is one enumeration constant of an object's DWARF.
type enumerator struct {
	enum  string // "enum rproc_state", or "an anonymous enum"
	value int64
	// alias: an earlier constant of its enum has its value.
	alias bool
	// bound: named as a bound (boundName), and greater than every
	// constant before it in its enum (__FOO_MAX; FOO_MAX = __FOO_MAX - 1
	// after it is an alias).
	bound bool
}

// boundName matches the names of constants that count or bound an
// enumeration rather than name one of its values.
var boundName = regexp.MustCompile(`(?:^__|(?:^|_)(?:MAX|NUM|NR|COUNT|CNT|LAST|END|LIMIT)(?:_|$))`)

// enumSet gathers the enumeration constants of one object's DWARF. A
// name defined twice with two values (two units' enums in one object) is
// left out: which one code meant is not known.
type enumSet struct {
	values map[string]enumerator
	twice  map[string]bool
}

// add takes in the constants of one enumeration type.
func (s enumSet) add(et *dwarf.EnumType) {
	name := "an anonymous enum"
	if et.EnumName != "" {
		name = "enum " + et.EnumName
	}
	for i, v := range et.Val {
		earlier := et.Val[:i]
		x := enumerator{
			enum: name, value: v.Val,
			alias: slices.ContainsFunc(earlier, func(w *dwarf.EnumValue) bool { return w.Val == v.Val }),
			bound: boundName.MatchString(v.Name) && !slices.ContainsFunc(earlier, func(w *dwarf.EnumValue) bool { return w.Val >= v.Val }),
		}
		if old, seen := s.values[v.Name]; seen && old.value != x.value {
			s.twice[v.Name] = true
		}
		s.values[v.Name] = x
	}
}

// result is each constant's value, those defined twice left out.
func (s enumSet) result() map[string]enumerator {
	for n := range s.twice {
		delete(s.values, n)
	}
	return s.values
}
