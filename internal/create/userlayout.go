package create

import (
	"debug/dwarf"
	"debug/elf"
	"errors"
	"fmt"
	"strings"
)

// userLayout describes a structure or union as the code that uses it sees
// it: its size and alignment, and its members in order, each with its
// name, place and exact type (typedefs resolved, qualifiers kept, other
// structures by name), anonymous members spelled out. Two types with the
// same user layout compile to the same code wherever only the first's
// member names are used.
type userLayout struct {
	size, align int64
	members     []userMember
}

type userMember struct {
	name      string // "" for an anonymous structure or union
	offset    int64
	bits      string // bit field: "offset+size"
	typ       string // exact type; for an anonymous member its kind
	repr      string // how its type holds its bits ("ptr", "int4"), or "" if no other type holds them the same way
	anonymous *userLayout
	size      int64
	align     int64 // natural alignment of its type
	// bytes is, for a bit field that fills whole bytes on a byte's
	// boundary, the bytes it holds, as "offset+size": the storage an
	// integer member of those bytes would have (netdevice.h's
	// reg_state:8, an enumeration, became a u8 in 6.1.190).
	bytes string
}

// readUserLayout reads the layout of aggregate ("struct NAME") from the
// DWARF of obj, which defines it once.
func readUserLayout(obj, aggregate string) (*userLayout, error) {
	kind, name, _ := strings.Cut(aggregate, " ")
	f, err := elf.Open(obj)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, err := f.DWARF()
	if err != nil {
		return nil, fmt.Errorf("%s: debug information: %w", obj, err)
	}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("%s: debug information: %w", obj, err)
		}
		if e == nil {
			return nil, fmt.Errorf("%s: no definition of %s", obj, aggregate)
		}
		if e.Tag != dwarf.TagStructType && e.Tag != dwarf.TagUnionType {
			continue
		}
		if n, _ := e.Val(dwarf.AttrName).(string); n != name {
			continue
		}
		if decl, _ := e.Val(dwarf.AttrDeclaration).(bool); decl {
			continue
		}
		t, err := d.Type(e.Offset)
		if err != nil {
			return nil, err
		}
		st, ok := t.(*dwarf.StructType)
		if !ok || st.Kind != kind || st.Incomplete {
			continue
		}
		l := describeUser(st, 0)
		l.align, err = probeAlignment(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", obj, err)
		}
		return l, nil
	}
}

// probeAlignment reads the alignment a probe records as the length of its
// array __ksplice_layout_align (a char[_Alignof(type)]); 0 if it has none.
func probeAlignment(d *dwarf.Data) (int64, error) {
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil || e == nil {
			return 0, err
		}
		if e.Tag != dwarf.TagVariable {
			continue
		}
		if n, _ := e.Val(dwarf.AttrName).(string); n != "__ksplice_layout_align" {
			continue
		}
		off, ok := e.Val(dwarf.AttrType).(dwarf.Offset)
		if !ok {
			return 0, errors.New("layout probe: no type")
		}
		t, err := d.Type(off)
		if err != nil {
			return 0, err
		}
		at, ok := t.(*dwarf.ArrayType)
		if !ok {
			return 0, errors.New("layout probe: not an array")
		}
		return at.Count, nil
	}
}

func describeUser(st *dwarf.StructType, align int64) *userLayout {
	l := &userLayout{size: st.ByteSize, align: align}
	for _, f := range st.Field {
		m := userMember{name: f.Name, offset: f.ByteOffset, typ: exactType(f.Type, 0), repr: representation(f.Type), size: f.Type.Size(), align: naturalAlign(f.Type, 0)}
		if f.BitSize != 0 {
			// DWARF 5 says where a bit field is in DataBitOffset,
			// DWARF 4 in BitOffset within ByteSize: both count.
			m.bits = fmt.Sprintf("%d+%d/%d+%d", f.DataBitOffset, f.BitSize, f.BitOffset, f.ByteSize)
			m.bytes, m.repr = wholeBytes(f)
		}
		if s, ok := f.Type.(*dwarf.StructType); ok && s.StructName == "" && f.Name == "" {
			m.anonymous = describeUser(s, 0)
			m.typ = s.Kind
		}
		l.members = append(l.members, m)
	}
	return l
}

// exactType spells a type so that two spellings are equal only if the
// types compile the same: typedefs resolved, qualifiers kept, sizes of
// base types, structures and unions by tag (their own layout is theirs to
// check), anonymous ones spelled out.
func exactType(t dwarf.Type, depth int) string {
	if depth > 16 {
		return "..."
	}
	switch t := t.(type) {
	case *dwarf.TypedefType:
		return exactType(t.Type, depth+1)
	case *dwarf.QualType:
		return t.Qual + " " + exactType(t.Type, depth+1)
	case *dwarf.PtrType:
		return "*" + exactType(t.Type, depth+1)
	case *dwarf.ArrayType:
		return fmt.Sprintf("[%d]%s", t.Count, exactType(t.Type, depth+1))
	case *dwarf.StructType:
		if t.StructName != "" {
			return t.Kind + " " + t.StructName
		}
		var parts []string
		for _, f := range t.Field {
			parts = append(parts, fmt.Sprintf("%s@%d:%d+%d/%d+%d %s", f.Name, f.ByteOffset, f.DataBitOffset, f.BitSize, f.BitOffset, f.ByteSize, exactType(f.Type, depth+1)))
		}
		return fmt.Sprintf("%s{%d; %s}", t.Kind, t.ByteSize, strings.Join(parts, "; "))
	case *dwarf.EnumType:
		return fmt.Sprintf("enum %s(%d)", t.EnumName, t.ByteSize)
	case *dwarf.FuncType:
		var ps []string
		for _, p := range t.ParamType {
			ps = append(ps, exactType(p, depth+1))
		}
		ret := "void"
		if t.ReturnType != nil {
			ret = exactType(t.ReturnType, depth+1)
		}
		return fmt.Sprintf("func(%s) %s", strings.Join(ps, ", "), ret)
	case *dwarf.VoidType:
		return "void"
	case nil:
		return "void"
	}
	return fmt.Sprintf("%s(%d)", t.String(), t.Size())
}

// sameForUsers reports whether code written against a compiles the same
// against b: the same size and alignment, the same members in the same
// places with the same types, except that a member may have become the
// first member of an anonymous union of its size (dst_entry's dev, joined
// by dev_rcu): a positional initializer still fills it, and every use of
// its name still reads it.
func sameForUsers(a, b *userLayout) bool {
	retyped, same := compareForUsers(a, b)
	return same && len(retyped) == 0
}

// sameValues reports whether the running kernel's objects laid out as a
// hold what code compiled against b reads, where sameForUsers does not
// say so: each member retyped (compareForUsers) is an integer of the same
// storage and signedness on both sides (netdevice.h's reg_state, a bit
// field of 8 bits of an enumeration without negative values, became a u8
// of that byte in 6.1.190): the same bits, the same value. A pointer
// retyped is not: it may lead to another type's data, or to a function
// of another signature.
func sameValues(a, b *userLayout) bool {
	retyped, same := compareForUsers(a, b)
	if !same || len(retyped) == 0 {
		return false
	}
	for _, n := range retyped {
		x, y := memberNamed(a, n), memberNamed(b, n)
		if x == nil || y == nil || x.repr != y.repr || !strings.Contains(x.repr, "int") {
			return false
		}
	}
	return true
}

// memberNamed returns l's member called name, looking into its anonymous
// structures and unions, or nil.
func memberNamed(l *userLayout, name string) *userMember {
	for i := range l.members {
		m := &l.members[i]
		if m.anonymous != nil {
			if in := memberNamed(m.anonymous, name); in != nil {
				return in
			}
			continue
		}
		if m.name == name {
			return m
		}
	}
	return nil
}

// compareForUsers is sameForUsers, except that members whose type changed
// to one that holds the same bits the same way (representation) are
// returned, not a difference: code that does not name them compiles the
// same (6.1.190's syn_recv_sock, a function pointer of another
// signature).
func compareForUsers(a, b *userLayout) (retyped []string, same bool) {
	if a.size != b.size || a.align != b.align || len(a.members) != len(b.members) {
		return nil, false
	}
	for i, x := range a.members {
		y := b.members[i]
		if x.offset != y.offset || x.bits != y.bits {
			// A bit field that holds whole bytes and an integer
			// of those bytes are the same storage: a retyped
			// member, if they hold the bits the same way.
			if x.anonymous != nil || y.anonymous != nil || x.name != y.name ||
				storage(x) == "" || storage(x) != storage(y) || x.repr == "" || x.repr != y.repr || y.align > x.align {
				return nil, false
			}
			retyped = append(retyped, x.name)
			continue
		}
		switch {
		case x.anonymous != nil && y.anonymous != nil:
			if x.typ != y.typ {
				return nil, false
			}
			inner, same := compareForUsers(x.anonymous, y.anonymous)
			if !same {
				return nil, false
			}
			retyped = append(retyped, inner...)
		case x.anonymous == nil && y.anonymous == nil:
			if x.name != y.name {
				return nil, false
			}
			if x.typ != y.typ {
				if x.repr == "" || x.repr != y.repr || x.size != y.size || x.align != y.align {
					return nil, false
				}
				retyped = append(retyped, x.name)
			}
		case x.anonymous == nil && y.typ == "union":
			first := y.anonymous.members
			if len(first) == 0 || y.size != x.size || first[0].anonymous != nil ||
				first[0].name != x.name || first[0].typ != x.typ || first[0].offset != 0 || first[0].bits != x.bits {
				return nil, false
			}
			// A sibling that needs more alignment would align
			// the union, and the type, otherwise.
			for _, o := range first[1:] {
				if o.align > x.align {
					return nil, false
				}
			}
		default:
			return nil, false
		}
	}
	return retyped, true
}

// wholeBytes returns, for a bit field on a byte's boundary that fills
// whole bytes (8, 16, 32 or 64 bits), its bytes as "offset+size" and how
// it holds its bits (representation's words: "uint1" for an 8-bit field
// of an unsigned type or of an enumeration without negative values, which
// GCC stores unsigned), or "", "" for any other.
func wholeBytes(f *dwarf.StructField) (bytes, repr string) {
	var start int64
	switch {
	case f.BitOffset != 0 || f.ByteSize != 0:
		// DWARF 4: bits from the most significant of a storage unit
		// at ByteOffset. Little-endian targets only (amd64, arm64).
		unit := f.ByteSize
		if unit == 0 {
			unit = f.Type.Size()
		}
		start = f.ByteOffset*8 + unit*8 - f.BitOffset - f.BitSize
	default:
		start = f.ByteOffset*8 + f.DataBitOffset
	}
	switch f.BitSize {
	case 8, 16, 32, 64:
	default:
		return "", ""
	}
	if start%8 != 0 {
		return "", ""
	}
	sign := ""
	switch t := underlying(f.Type).(type) {
	case *dwarf.IntType, *dwarf.CharType:
	case *dwarf.UintType, *dwarf.UcharType:
		sign = "u"
	case *dwarf.EnumType:
		sign = "u"
		for _, v := range t.Val {
			if v.Val < 0 {
				sign = ""
			}
		}
	default:
		return "", ""
	}
	return fmt.Sprintf("%d+%d", start/8, f.BitSize/8), fmt.Sprintf("%sint%d", sign, f.BitSize/8)
}

// storage is where a member that is not a structure of its own holds its
// bits, as "offset+size" bytes, or "" for a bit field that does not fill
// whole bytes.
func storage(m userMember) string {
	if m.bits == "" {
		return fmt.Sprintf("%d+%d", m.offset, m.size)
	}
	return m.bytes
}

// underlying is t without typedefs and const.
func underlying(t dwarf.Type) dwarf.Type {
	for {
		switch u := t.(type) {
		case *dwarf.TypedefType:
			t = u.Type
		case *dwarf.QualType:
			if u.Qual != "const" {
				return t
			}
			t = u.Type
		default:
			return t
		}
	}
}

// representation says how a member's type holds its bits, where another
// type may hold them the same way: any pointer ("ptr": an address, the
// pointee's type is the code's business), an integer of its size and
// signedness ("int4", "uint8": long and long long; a constant converted
// to either, a float's too, gets the same bits). A const is read the
// same. Anything else ("": a bool, an enumeration, a float, a structure,
// a volatile) is only the same as the same type.
func representation(t dwarf.Type) string {
	for {
		switch u := t.(type) {
		case *dwarf.TypedefType:
			t = u.Type
			continue
		case *dwarf.QualType:
			if u.Qual != "const" {
				return ""
			}
			t = u.Type
			continue
		case *dwarf.PtrType:
			return "ptr"
		case *dwarf.IntType:
			return fmt.Sprintf("int%d", u.ByteSize)
		case *dwarf.CharType:
			return fmt.Sprintf("int%d", u.ByteSize)
		case *dwarf.UintType:
			return fmt.Sprintf("uint%d", u.ByteSize)
		case *dwarf.UcharType:
			return fmt.Sprintf("uint%d", u.ByteSize)
		}
		return ""
	}
}

// naturalAlign is the alignment a type needs on the 64-bit targets the
// kernels run on (amd64, arm64): a scalar's is its size up to 16, a
// structure's its members' largest; an explicit alignment is in the
// layout's own align.
func naturalAlign(t dwarf.Type, depth int) int64 {
	if depth > 16 {
		return 16
	}
	switch t := t.(type) {
	case *dwarf.TypedefType:
		return naturalAlign(t.Type, depth+1)
	case *dwarf.QualType:
		return naturalAlign(t.Type, depth+1)
	case *dwarf.ArrayType:
		return naturalAlign(t.Type, depth+1)
	case *dwarf.StructType:
		a := int64(1)
		for _, f := range t.Field {
			a = max(a, naturalAlign(f.Type, depth+1))
		}
		return a
	}
	s := t.Size()
	switch {
	case s <= 1:
		return 1
	case s >= 16:
		return 16
	}
	a := int64(1)
	for a < s {
		a <<= 1
	}
	return a
}
