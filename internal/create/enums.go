package create

import (
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"regexp"
	"slices"
	"sort"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

// enumChanges compares the values of the enumeration constants the
// objects pre and post were compiled with (their DWARF) and refuses each
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
//
// An object without debug information has nothing to compare: ok is
// false.
func enumChanges(pre, post string) (refusals []elfdiff.Refusal, ok bool, err error) {
	a, ok, err := enumerators(pre)
	if err != nil || !ok {
		return nil, ok, err
	}
	b, ok, err := enumerators(post)
	if err != nil || !ok {
		return nil, ok, err
	}
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
	return refusals, true, nil
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

// enumerators maps each enumeration constant of obj's DWARF to its value.
// A name defined twice with two values (two units' enums in one object)
// is left out: which one code meant is not known.
func enumerators(obj string) (map[string]enumerator, bool, error) {
	f, err := elf.Open(obj)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", obj, err)
	}
	defer f.Close()
	if f.Section(".debug_info") == nil {
		return nil, false, nil
	}
	d, err := f.DWARF()
	if err != nil {
		return nil, false, fmt.Errorf("%s: debug information: %w", obj, err)
	}
	out := map[string]enumerator{}
	twice := map[string]bool{}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return nil, false, fmt.Errorf("%s: debug information: %w", obj, err)
		}
		if e == nil {
			break
		}
		if e.Tag != dwarf.TagEnumerationType {
			continue
		}
		t, err := d.Type(e.Offset)
		if err != nil {
			return nil, false, fmt.Errorf("%s: debug information: %w", obj, err)
		}
		r.SkipChildren()
		et, ok := t.(*dwarf.EnumType)
		if !ok || len(et.Val) == 0 {
			continue
		}
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
			if old, seen := out[v.Name]; seen && old.value != x.value {
				twice[v.Name] = true
			}
			out[v.Name] = x
		}
	}
	for n := range twice {
		delete(out, n)
	}
	return out, true, nil
}
