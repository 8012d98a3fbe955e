package create

import (
	"debug/dwarf"
	"debug/elf"
	"fmt"
	"sort"
	"strings"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

// layoutRefusals compares the layouts of the structures and unions the
// objects pre and post were compiled with, and returns a refusal for each
// one whose size or members (offsets, sizes, the
// structures they are or point to, and where each name is) differ. A patch that changes a structure's layout, typically in a
// header, makes new code that reads and writes the running kernel's
// objects, laid out the old way, with the new offsets: no diff of code can
// tell that apart from a fix, so the type information must.
//
// Types that only one side has (new or no longer used ones) are not
// compared: no running object has the new layout.
//
// A member that becomes the first member of an anonymous union of its own
// size (struct dst_entry's dev in 6.1.190, joined by dev_rcu) is the same
// layout for every user of the member: sameForUsers, as the scan of a
// header's includers decides it. So is a bit field that fills whole bytes
// and becomes an integer of those bytes, signed as it was (sameValues:
// struct net_device's reg_state).
func layoutRefusals(pre, post *debugTypes) []elfdiff.Refusal {
	a, ua, b, ub := pre.layouts, pre.users, post.layouts, post.users
	var refusals []elfdiff.Refusal
	var names []string
	for n := range a {
		if _, both := b[n]; both && !sameLayouts(a[n], b[n]) {
			// Only a type defined once on each side (two
			// definitions of one shape may differ in names).
			if len(ua[n]) == 1 && len(ub[n]) == 1 && (sameForUsers(only(ua[n]), only(ub[n])) || sameValues(only(ua[n]), only(ub[n]))) {
				continue
			}
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		refusals = append(refusals, elfdiff.Refusal{
			Symbol: n, Rule: elfdiff.RuleStructLayout,
			Reason: fmt.Sprintf("the layout of %s changes (%s): the running kernel's objects of that type keep the old one, which new code would misread", n, layoutDelta(a[n], b[n])),
		})
	}
	return refusals
}

// typeChanges compares the types the objects pre and post were compiled
// with, read once from each one's DWARF: the layouts of their structures
// and unions (layoutRefusals) and the values of their enumeration
// constants (enumRefusals). An object without debug information has
// nothing to compare: ok is false.
func typeChanges(pre, post string) (refusals []elfdiff.Refusal, ok bool, err error) {
	a, ok, err := readTypes(pre)
	if err != nil || !ok {
		return nil, ok, err
	}
	b, ok, err := readTypes(post)
	if err != nil || !ok {
		return nil, ok, err
	}
	return append(layoutRefusals(a, b), enumRefusals(a, b)...), true, nil
}

// debugTypes are the types of one object's DWARF that create compares.
type debugTypes struct {
	// layouts maps "struct NAME" and "union NAME" to the layouts the
	// object gives them (a set: a name may be defined more than once),
	// each with its description naming the members, for messages;
	// users, to how their users see each (described with names).
	layouts map[string]map[string]string
	users   map[string]map[string]*userLayout
	// enums maps each enumeration constant to its value (enumerators).
	enums map[string]enumerator
}

// readTypes reads obj's debugTypes; ok is false if it has no debug
// information.
func readTypes(obj string) (*debugTypes, bool, error) {
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
	out := map[string]map[string]string{}
	users := map[string]map[string]*userLayout{} // type -> described with names -> layout
	enums := enumSet{values: map[string]enumerator{}, twice: map[string]bool{}}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return nil, false, fmt.Errorf("%s: debug information: %w", obj, err)
		}
		if e == nil {
			break
		}
		if e.Tag == dwarf.TagEnumerationType {
			t, err := d.Type(e.Offset)
			if err != nil {
				return nil, false, fmt.Errorf("%s: debug information: %w", obj, err)
			}
			r.SkipChildren()
			if et, ok := t.(*dwarf.EnumType); ok {
				enums.add(et)
			}
			continue
		}
		if e.Tag != dwarf.TagStructType && e.Tag != dwarf.TagUnionType && e.Tag != dwarf.TagTypedef {
			continue
		}
		if decl, _ := e.Val(dwarf.AttrDeclaration).(bool); decl {
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		if name == "" {
			// Anonymous: part of the layout of the type that holds
			// it, or of the typedef that names it.
			continue
		}
		t, err := d.Type(e.Offset)
		if err != nil {
			return nil, false, fmt.Errorf("%s: debug information: %w", obj, err)
		}
		key := ""
		align, _ := e.Val(dwarf.AttrAlignment).(int64)
		if td, ok := t.(*dwarf.TypedefType); ok {
			// typedef struct { ... } atomic_t: only the typedef
			// names the layout its objects have.
			t = bare(td)
			if st, ok := t.(*dwarf.StructType); !ok || st.StructName != "" {
				continue // a named type's layout is compared by its tag
			}
			key = "typedef " + name
			// An alignment asked for is the structure's own.
			if off, ok := e.Val(dwarf.AttrType).(dwarf.Offset); ok {
				sr := d.Reader()
				sr.Seek(off)
				if se, err := sr.Next(); err == nil && se != nil {
					align, _ = se.Val(dwarf.AttrAlignment).(int64)
				}
			}
		}
		st, ok := t.(*dwarf.StructType)
		if !ok || st.Incomplete {
			continue
		}
		if key == "" {
			key = st.Kind + " " + st.StructName
		}
		if out[key] == nil {
			out[key] = map[string]string{}
		}
		// An alignment asked for (_Alignas, __aligned) is part of
		// the layout even where the size stays: new code may rely
		// on it (an aligned vector move).
		alignDesc := ""
		if align != 0 {
			alignDesc = fmt.Sprintf("; align %d", align)
		}
		named := describeLayout(st, true, "") + alignDesc
		out[key][describeLayout(st, false, "")+alignDesc] = named
		if users[key] == nil {
			users[key] = map[string]*userLayout{}
		}
		users[key][named] = describeUser(st, align)
	}
	return &debugTypes{layouts: out, users: users, enums: enums.result()}, true, nil
}

// describeLayout is a structure's layout: its size and its members'
// offsets and sizes (bit fields' bits), with anonymous members' layouts
// spelled out, and pointers' and arrays' element types named (a pointer
// to another structure reads another layout). Member names are not part
// of it: a member renamed is the same bytes.
//
// prefix names the members of a member's own structure ("u." for the
// members of kuid_t u): only an anonymous member's members share the
// names of the structure that holds them, which C keeps apart.
func describeLayout(st *dwarf.StructType, names bool, prefix string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "size %d", st.ByteSize)
	for i, f := range st.Field {
		name := fmt.Sprintf("#%d", i)
		if names && f.Name != "" {
			name = prefix + f.Name
		}
		fmt.Fprintf(&b, "; %s@%d", name, f.ByteOffset)
		if f.BitSize != 0 {
			fmt.Fprintf(&b, ":%d+%d", f.DataBitOffset, f.BitSize)
		}
		fmt.Fprintf(&b, " %s(%d)", layoutType(f.Type), f.Type.Size())
		// An anonymous structure, or array of them, typedef'd or not,
		// is laid out here: it has no name to be compared by.
		elem := bare(f.Type)
		for {
			a, ok := elem.(*dwarf.ArrayType)
			if !ok {
				break
			}
			elem = bare(a.Type)
		}
		if s, ok := elem.(*dwarf.StructType); ok && s.StructName == "" {
			inner := prefix
			if f.Name != "" {
				inner = prefix + f.Name + "."
			}
			fmt.Fprintf(&b, " {%s}", describeLayout(s, names, inner))
		}
	}
	return b.String()
}

// bare is t without its typedefs and qualifiers.
func bare(t dwarf.Type) dwarf.Type {
	for {
		switch u := t.(type) {
		case *dwarf.TypedefType:
			t = u.Type
		case *dwarf.QualType:
			t = u.Type
		default:
			return t
		}
	}
}

// layoutType names what matters of a member's type to its layout: the
// structure it is or points to, else only its kind (int and unsigned int,
// or a typedef renamed, read the same bytes).
func layoutType(t dwarf.Type) string {
	for {
		td, ok := t.(*dwarf.TypedefType)
		if !ok {
			break
		}
		t = td.Type
	}
	switch t := t.(type) {
	case *dwarf.StructType:
		return t.Kind + " " + t.StructName
	case *dwarf.PtrType:
		return "*" + layoutType(t.Type)
	case *dwarf.ArrayType:
		return fmt.Sprintf("[%d]%s", t.Count, layoutType(t.Type))
	case *dwarf.FuncType:
		return "func"
	case *dwarf.QualType:
		return layoutType(t.Type)
	}
	return "scalar"
}

// sameLayouts compares two sets of a type's layouts (shape -> the
// description with member names): the same shapes, and, for a type
// defined once, no member of the same name at another place (two
// members of one size swapped keep the shape, not the meaning). A member
// renamed in place is the same layout.
func sameLayouts(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	if len(a) > 1 {
		for k, v := range a {
			if b[k] != v {
				return false
			}
		}
		return true
	}
	var x, y string
	for k := range a {
		x, y = a[k], b[k]
	}
	mx, my := memberPlaces(x), memberPlaces(y)
	for name, place := range mx {
		if p, ok := my[name]; ok && p != place {
			return false
		}
	}
	return true
}

// memberPlaces maps the members' names of a layout's description to
// where they are ("@4 scalar(4)").
func memberPlaces(desc string) map[string]string {
	m := map[string]string{}
	for _, part := range strings.Split(desc, "; ") {
		if name, place, ok := strings.Cut(strings.TrimPrefix(part, "{"), "@"); ok && !strings.HasPrefix(name, "#") {
			m[name] = strings.TrimRight(place, "}")
		}
	}
	return m
}

// layoutDelta says briefly how two layouts of a type differ: the size,
// and the first member that does.
func layoutDelta(a, b map[string]string) string {
	if len(a) != 1 || len(b) != 1 {
		return fmt.Sprintf("%d definitions before, %d after", len(a), len(b))
	}
	var x, y string
	for _, v := range a {
		x = v
	}
	for _, v := range b {
		y = v
	}
	xs, ys := strings.Split(x, "; "), strings.Split(y, "; ")
	var what []string
	if xs[0] != ys[0] {
		what = append(what, xs[0]+" becomes "+ys[0])
	}
	// The first member that moves, by name, says most.
	my := memberPlaces(y)
	for _, part := range xs[1:] {
		name, place, _ := strings.Cut(strings.TrimPrefix(part, "{"), "@")
		place = strings.TrimRight(place, "}")
		if p, ok := my[name]; ok && p != place && !strings.HasPrefix(name, "#") {
			return strings.Join(append(what, name+"@"+place+" becomes "+name+"@"+p), ", ")
		}
	}
	for i := 1; i < len(xs) || i < len(ys); i++ {
		switch {
		case i >= len(xs):
			what = append(what, "adds "+ys[i])
		case i >= len(ys):
			what = append(what, "removes "+xs[i])
		case xs[i] != ys[i]:
			what = append(what, xs[i]+" becomes "+ys[i])
		default:
			continue
		}
		break
	}
	if len(what) == 0 {
		return "differs"
	}
	return strings.Join(what, ", ")
}

func only(m map[string]*userLayout) *userLayout {
	for _, l := range m {
		return l
	}
	return nil
}
