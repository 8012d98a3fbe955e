package elfdiff

import (
	"bytes"
	"cmp"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ksplice-go/ksplice/internal/arch"
)

// maxReasons bounds the reasons listed per symbol; the rest are counted.
const maxReasons = 4

// Diff compares a pre-patch and a post-patch object and decides what
// changed. Changes an update cannot carry are Refusals in the result, not
// errors (Result.Err turns them into one). The error wraps ErrArchMismatch
// or ErrNoFunctionSections when the objects cannot be compared at all.
func Diff(pre, post *File) (*Result, error) {
	if pre.Arch != post.Arch {
		return nil, &ArchError{Pre: pre.Arch.Machine, Post: post.Arch.Machine}
	}
	for _, f := range []*File{pre, post} {
		if err := f.checkFunctionSections(); err != nil {
			if f.Path != "" {
				return nil, fmt.Errorf("%s: %w", f.Path, err)
			}
			return nil, err
		}
	}
	d := &differ{
		pre: pre, post: post,
		pair:   map[*Symbol]*Symbol{},
		rpair:  map[*Symbol]*Symbol{},
		res:    &Result{Arch: pre.Arch.Name, Pre: pre, Post: post, Functions: []*FuncDiff{}, Data: []*DataDiff{}, Refusals: []Refusal{}},
		anonEq: map[string]bool{},
	}
	d.pairFunctions()
	d.pairObjects()
	d.findLineShifts()
	d.compareFunctions()
	d.compareObjects()
	d.carryClosure()
	d.refuse()
	if err := d.applyAuthored(); err != nil {
		return nil, err
	}
	d.res.Carry = Carry{Functions: []string{}, Data: []string{}}
	for _, fd := range d.res.Functions {
		if fd.Carry {
			d.res.Carry.Functions = append(d.res.Carry.Functions, fd.Name)
		}
	}
	for _, dd := range d.res.Data {
		if dd.Carry {
			d.res.Carry.Data = append(d.res.Carry.Data, dd.Name)
		}
	}
	return d.res, nil
}

// checkFunctionSections refuses objects whose plain .text holds several
// functions: without -ffunction-sections, the assembler resolves calls and
// jumps between them, and no relocation says where.
func (f *File) checkFunctionSections() error {
	for _, sec := range f.Sections[1:] {
		if sec.Kind != KindText || !slices.Contains([]string{".text", ".text.unlikely", ".text.hot", ".text.startup"}, sec.Name) {
			continue
		}
		var names []string
		for _, s := range sec.Defs {
			if s.Type == elf.STT_FUNC {
				names = append(names, s.Name)
			}
		}
		if len(names) > 1 {
			return &NoFunctionSectionsError{Section: sec.Name, Functions: names}
		}
	}
	return nil
}

type differ struct {
	pre, post   *File
	pair, rpair map[*Symbol]*Symbol // pre -> post, post -> pre
	res         *Result
	fdOf        map[*Function]*FuncDiff // post (or pre, for removed) -> verdict
	ddOf        map[*Object]*DataDiff
	anonEq      map[string]bool
	preUsers    map[*Object]map[string]bool
	postUsers   map[*Object]map[string]bool
	// lines are the lines the object proves, by pre-patch line
	// (findLineShifts).
	lines []provenLine
	// callers are, per post function, the functions that call it
	// directly; otherRefs the functions referred to any other way
	// (findCallers).
	callers   map[*Function][]*Function
	otherRefs map[*Function]bool
}

// provenLine is a line number the object proves, before and after the patch.
type provenLine struct{ pre, post int64 }

func (d *differ) link(a, b *Symbol) {
	d.pair[a] = b
	d.rpair[b] = a
}

// pairUp pairs the items of pre and post with equal keys: a single one on
// each side pairs directly; otherwise first those that are alike and
// placed alike (when place is not nil), then those that are alike, then
// those with equal names, then the rest in order.
func pairUp[T any](pre, post []T, key, name, place func(T) string, alike func(a, b T) bool, link func(a, b T)) {
	postBy := map[string][]T{}
	for _, b := range post {
		postBy[key(b)] = append(postBy[key(b)], b)
	}
	preBy := map[string][]T{}
	var keys []string
	for _, a := range pre {
		k := key(a)
		if _, ok := preBy[k]; !ok {
			keys = append(keys, k)
		}
		preBy[k] = append(preBy[k], a)
	}
	for _, k := range keys {
		as, bs := preBy[k], postBy[k]
		if len(bs) == 0 {
			continue
		}
		if len(as) == 1 && len(bs) == 1 {
			link(as[0], bs[0])
			continue
		}
		used := make([]bool, len(bs))
		done := make([]bool, len(as))
		for _, pass := range []func(a, b T) bool{
			func(a, b T) bool { return place != nil && alike(a, b) && place(a) == place(b) },
			func(a, b T) bool { return alike(a, b) && name(a) == name(b) },
			alike,
			func(a, b T) bool { return name(a) == name(b) },
			func(a, b T) bool { return true },
		} {
			for i, a := range as {
				if done[i] {
					continue
				}
				for j, b := range bs {
					if !used[j] && pass(a, b) {
						link(a, b)
						used[j], done[i] = true, true
						break
					}
				}
			}
		}
	}
}

func (d *differ) pairFunctions() {
	pairUp(d.pre.Functions, d.post.Functions,
		func(f *Function) string { return f.key },
		func(f *Function) string { return f.Name },
		nil,
		func(a, b *Function) bool { return a.Size == b.Size && bytes.Equal(a.Code, b.Code) },
		func(a, b *Function) { d.link(a.Sym, b.Sym) })
}

// pairObjects pairs data objects by name, and static locals (count.0,
// count.1, ...) by the functions that use them. Same-named statics of one
// function (two WARN_ONCE's __warned, lockdep's __key, descriptor) pair by
// their order of use in it, never by their numbers, which the compiler
// reassigns when the patch adds a namesake anywhere in the file.
func (d *differ) pairObjects() {
	d.preUsers = users(d.pre)
	d.postUsers = users(d.post)
	prePlace, postPlace := usePlaces(d.pre), usePlaces(d.post)
	place := func(o *Object) string {
		if p, ok := prePlace[o]; ok {
			return p
		}
		return postPlace[o]
	}
	pairUp(d.pre.Objects, d.post.Objects,
		func(o *Object) string { return o.key },
		func(o *Object) string { return o.Name },
		place,
		func(a, b *Object) bool { return sameSet(d.preUsers[a], d.postUsers[b]) },
		func(a, b *Object) { d.link(a.Sym, b.Sym) })
}

// usePlaces maps each data object that code references to where it is first
// used: the first function (in file order) whose code references it, and
// its rank among the objects of the same normalized name that this
// function is the first to reference, in the order of its code.
func usePlaces(f *File) map[*Object]string {
	out := map[*Object]string{}
	for _, fn := range f.Functions {
		rank := map[string]int{}
		for _, r := range fn.Relocs {
			o := r.Target.Sym.Object()
			if o == nil {
				continue
			}
			if _, ok := out[o]; ok {
				continue
			}
			out[o] = fmt.Sprintf("%s#%d", fn.key, rank[o.key])
			rank[o.key]++
		}
	}
	return out
}

// users maps each data object to the normalized names of the functions that
// use it: directly, through a special-section entry of theirs, or through
// other data objects (a printk index record naming a __func__).
func users(f *File) map[*Object]map[string]bool {
	u := map[*Object]map[string]bool{}
	add := func(o *Object, k string) bool {
		if u[o] == nil {
			u[o] = map[string]bool{}
		}
		if u[o][k] {
			return false
		}
		u[o][k] = true
		return true
	}
	for _, fn := range f.Functions {
		for _, r := range fn.Relocs {
			if o := r.Target.Sym.Object(); o != nil {
				add(o, fn.key)
			}
		}
		for _, e := range fn.Entries {
			for _, r := range e.Relocs {
				if o := r.Target.Sym.Object(); o != nil {
					add(o, fn.key)
				}
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for _, o := range f.Objects {
			for _, r := range o.Relocs {
				if to := r.Target.Sym.Object(); to != nil && to != o {
					for k := range u[o] {
						if add(to, k) {
							changed = true
						}
					}
				}
			}
		}
	}
	return u
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func (d *differ) compareFunctions() {
	d.fdOf = map[*Function]*FuncDiff{}
	for _, g := range d.post.Functions {
		fd := &FuncDiff{Name: g.Name, Section: g.Section.Name, Post: g, Reasons: []string{}}
		if g.Parent != nil {
			fd.Parent = g.Parent.Name
		}
		if ps := d.rpair[g.Sym]; ps != nil {
			fd.Pre = ps.Function()
			reasons, noise := d.compareFunc(fd.Pre, g)
			switch {
			case len(reasons) > 0:
				fd.Status, fd.Reasons = StatusChanged, reasons
			case len(noise) > 0:
				fd.Status, fd.Reasons = StatusNoise, noise
			default:
				fd.Status = StatusUnchanged
			}
			if fd.Pre.Name != g.Name {
				fd.Reasons = append(fd.Reasons, fmt.Sprintf("was %s", fd.Pre.Name))
			}
		} else {
			fd.Status = StatusNew
		}
		d.fdOf[g] = fd
		d.res.Functions = append(d.res.Functions, fd)
	}
	for _, f := range d.pre.Functions {
		if d.pair[f.Sym] == nil {
			fd := &FuncDiff{Name: f.Name, Section: f.Section.Name, Status: StatusRemoved, Pre: f, Reasons: []string{}}
			if f.Parent != nil {
				fd.Parent = f.Parent.Name
			}
			d.fdOf[f] = fd
			d.res.Functions = append(d.res.Functions, fd)
		}
	}
}

// compareFunc returns why a and b differ, and the noise that does not count.
func (d *differ) compareFunc(a, b *Function) (reasons, noise []string) {
	var rs reasonList
	if a.Size != b.Size {
		rs.add("size %#x -> %#x", a.Size, b.Size)
	}
	if a.FtraceSite != b.FtraceSite {
		rs.add("ftrace site %s -> %s", siteString(a.FtraceSite), siteString(b.FtraceSite))
	}
	if a.PatchableSite != b.PatchableSite {
		rs.add("patchable entry %s -> %s", siteString(a.PatchableSite), siteString(b.PatchableSite))
	}
	if a.Prefix != b.Prefix {
		rs.add("prefix %#x -> %#x bytes", a.Prefix, b.Prefix)
	} else if i := firstDiff(a.PrefixCode, b.PrefixCode); i >= 0 {
		rs.add("prefix bytes differ at -%#x", a.Prefix-uint64(i))
	}
	relocsSame := d.compareRelocs(&rs, "", a.Relocs, b.Relocs)
	diffs := byteDiffs(a.Code, b.Code, a.Relocs, b.Relocs)
	if len(diffs) > 0 {
		if a.Size == b.Size && relocsSame {
			if n, ok := d.lineNoise(a, b, diffs); ok {
				noise = append(noise, n...)
			} else {
				rs.add("bytes differ at +%#x", diffs[0])
			}
		} else {
			rs.add("bytes differ at +%#x", diffs[0])
		}
	}
	noise = append(noise, d.compareEntries(&rs, a, b)...)
	if len(a.Relocs) == len(b.Relocs) {
		seen := map[*Symbol]bool{} // arm64 references each twice (adrp, add)
		for i := range a.Relocs {
			ta, tb := a.Relocs[i].Target, b.Relocs[i].Target
			la, ca, oka := ubsanLocation(ta)
			lb, cb, okb := ubsanLocation(tb)
			if oka && okb && (la != lb || ca != cb) && !seen[ta.Sym] && d.sameTarget(ta, tb) {
				seen[ta.Sym] = true
				noise = append(noise, fmt.Sprintf("UBSAN location at +%#x: line %d:%d -> %d:%d", a.Relocs[i].Offset, la, ca, lb, cb))
			}
		}
	}
	return rs.list(), noise
}

func siteString(off int64) string {
	switch {
	case off == NoFtraceSite:
		return "none"
	case off < 0:
		return fmt.Sprintf("-%#x", -off)
	}
	return fmt.Sprintf("+%#x", off)
}

// firstDiff returns the first index at which a and b differ, -1 if none
// (they have the same length).
func firstDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

type reasonList struct {
	items []string
	more  int
}

func (r *reasonList) add(format string, args ...any) {
	if len(r.items) >= maxReasons {
		r.more++
		return
	}
	r.items = append(r.items, fmt.Sprintf(format, args...))
}

func (r *reasonList) list() []string {
	if r.more > 0 {
		return append(r.items, fmt.Sprintf("and %d more differences", r.more))
	}
	return r.items
}

// compareRelocs compares relocations symbolically and reports whether they
// are the same.
func (d *differ) compareRelocs(rs *reasonList, what string, a, b []Reloc) bool {
	same := true
	if len(a) != len(b) {
		rs.add("%srelocations %d -> %d", what, len(a), len(b))
		same = false
	}
	for i := range min(len(a), len(b)) {
		ra, rb := a[i], b[i]
		switch {
		case ra.Offset != rb.Offset:
			if len(a) == len(b) {
				rs.add("%srelocation %d moved +%#x -> +%#x", what, i, ra.Offset, rb.Offset)
			}
			same = false
		case ra.Type != rb.Type:
			rs.add("%srelocation %d (+%#x) type %s -> %s", what, i, ra.Offset, ra.Info.Name, rb.Info.Name)
			same = false
		case !d.sameTarget(ra.Target, rb.Target):
			rs.add("%srelocation %d (+%#x %s) now targets %s (was %s)", what, i, rb.Offset, rb.Info.Name, rb.Target.describe(), ra.Target.describe())
			same = false
		}
		if !same && len(a) != len(b) {
			break
		}
	}
	return same
}

// sameTarget reports whether two relocation targets mean the same thing:
// paired symbols at the same offset, externals of the same name, strings of
// the same content, anonymous data of the same bytes.
func (d *differ) sameTarget(a, b Target) bool {
	if a.IsString || b.IsString {
		return a.IsString && b.IsString && a.String == b.String
	}
	if ea, offA := a.Entry(); ea != nil {
		eb, offB := b.Entry()
		return eb != nil && offA == offB && d.sameEntry(ea, eb)
	}
	if eb, _ := b.Entry(); eb != nil {
		return false
	}
	if sa, offA, na, ok := d.pre.altPiece(a); ok {
		sb, offB, nb, ok := d.post.altPiece(b)
		return ok && na == nb && d.samePiece(sa, offA, sb, offB, na)
	}
	if _, _, _, ok := d.post.altPiece(b); ok {
		return false
	}
	if a.Off != b.Off {
		return false
	}
	if a.Sym == nil || b.Sym == nil {
		return a.Sym == b.Sym
	}
	if p, ok := d.pair[a.Sym]; ok {
		return p == b.Sym
	}
	if _, ok := d.rpair[b.Sym]; ok {
		return false
	}
	if a.Sym.Defined() != b.Sym.Defined() {
		return false
	}
	if !a.Sym.Defined() {
		return a.Sym.Name == b.Sym.Name
	}
	if a.Sym.fn != nil || a.Sym.obj != nil || b.Sym.fn != nil || b.Sym.obj != nil {
		return false // removed vs new
	}
	// A label in a section of its own kind (.BTF_ids slots, whose names
	// BTF_ID() numbers by __COUNTER__ and __LINE__): its name without
	// the compiler's and the kernel's numbers, and its section's content.
	return anonName(normalize(a.Sym.Name)) == anonName(normalize(b.Sym.Name)) && d.sameAnon(a.Sym.Section, b.Sym.Section)
}

// samePiece compares n bytes of anonymous code at offA of a and offB of b
// (one alternative's replacement), relocations compared symbolically.
func (d *differ) samePiece(a *Section, offA int64, b *Section, offB int64, n int64) bool {
	bytesOf := func(s *Section, off int64) []byte {
		if off+n > int64(len(s.Data)) {
			return nil // no contents (or fewer than its size): compare relocations only
		}
		return s.Data[off : off+n]
	}
	// Pieces may refer to each other (or themselves): remember each
	// answer, and assume equal while comparing, as sameAnon does.
	key := fmt.Sprintf("%s\x00%d\x00%s\x00%d\x00%d", a.Name, offA, b.Name, offB, n)
	if eq, ok := d.anonEq[key]; ok {
		return eq
	}
	d.anonEq[key] = true
	eq := d.comparePiece(a, offA, b, offB, n, bytesOf(a, offA), bytesOf(b, offB))
	d.anonEq[key] = eq
	return eq
}

func (d *differ) comparePiece(a *Section, offA int64, b *Section, offB int64, n int64, ba, bb []byte) bool {
	if (ba == nil) != (bb == nil) {
		return false
	}
	ra := d.pre.resolve(a, uint64(offA), uint64(n), nil)
	rb := d.post.resolve(b, uint64(offB), uint64(n), nil)
	if len(byteDiffs(ba, bb, ra, rb)) > 0 || len(ra) != len(rb) {
		return false
	}
	for i := range ra {
		if ra[i].Offset != rb[i].Offset || ra[i].Type != rb[i].Type || !d.sameTarget(ra[i].Target, rb[i].Target) {
			return false
		}
	}
	return true
}

// anonName normalizes the name of a section of anonymous data: the compiler
// numbers the sections it makes of its local labels (".data..Lubsan_data12",
// ".data..Lubsan_type3") in the order it emits them, so the number does not
// matter; the content does.
func anonName(name string) string {
	if strings.Contains(name, "..L") {
		return strings.TrimRight(name, "0123456789")
	}
	return name
}

// ubsanLocation returns the source location (struct source_location {
// const char *file; u32 line; u32 column; }) that starts the data of every
// UBSAN handler, when t points to the start of one (.data..Lubsan_data*).
func ubsanLocation(t Target) (line, col uint32, ok bool) {
	sec, off, found := t.location()
	if !found || off != 0 || !strings.Contains(sec.Name, "..Lubsan_data") || len(sec.Data) < 16 ||
		len(sec.Relocs) == 0 || sec.Relocs[0].Offset != 0 {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint32(sec.Data[8:]), binary.LittleEndian.Uint32(sec.Data[12:]), true
}

// sameEntry reports whether special-section entries are the same entry of
// paired functions: their names, numbers (the __UNIQUE_ID_ddebug counter)
// and offsets in their sections do not matter, as whatever a patch added
// before them moves them.
func (d *differ) sameEntry(a, b *Entry) bool {
	if a.Special.Name != b.Special.Name {
		return false
	}
	if a.Owner == nil || b.Owner == nil {
		return a.Owner == b.Owner && a.Index == b.Index
	}
	return d.pair[a.Owner.Sym] == b.Owner.Sym && a.nth == b.nth
}

// sameAnon compares sections that hold anonymous data (constant pools,
// alternative replacements, UBSAN data) by content. The line and column of
// a UBSAN source location are noise (compareFunc names them).
func (d *differ) sameAnon(a, b *Section) bool {
	key := a.Name + "\x00" + b.Name
	if eq, ok := d.anonEq[key]; ok {
		return eq
	}
	da, db := a.Data, b.Data
	if strings.Contains(a.Name, "..Lubsan_data") && len(da) >= 16 && len(db) >= 16 {
		da, db = slices.Clone(da), slices.Clone(db)
		clear(da[8:16])
		clear(db[8:16])
	}
	eq := a.Size == b.Size && bytes.Equal(da, db) && len(a.Relocs) == len(b.Relocs)
	if eq {
		d.anonEq[key] = true // assume equal while comparing (cycles)
		for i := range a.Relocs {
			ra, rb := a.Relocs[i], b.Relocs[i]
			ta := d.pre.target(ra.Sym, ra.Addend)
			tb := d.post.target(rb.Sym, rb.Addend)
			if ra.Offset != rb.Offset || ra.Type != rb.Type || !d.sameTarget(ta, tb) {
				eq = false
				break
			}
		}
	}
	d.anonEq[key] = eq
	return eq
}

// byteDiffs returns the offsets at which a and b differ, outside the fields
// of relocations (compared symbolically instead).
func byteDiffs(a, b []byte, ra, rb []Reloc) []int {
	n := min(len(a), len(b))
	if bytes.Equal(a[:n], b[:n]) {
		return nil
	}
	mask := make([]bool, n)
	for _, rs := range [][]Reloc{ra, rb} {
		for _, r := range rs {
			for i := r.Offset; i < r.Offset+uint64(r.Info.Size) && i < uint64(n); i++ {
				mask[i] = true
			}
		}
	}
	var out []int
	for i := range n {
		if !mask[i] && a[i] != b[i] {
			out = append(out, i)
		}
	}
	return out
}

// A __LINE__ argument is recognised by its shape, not by its callee: an
// immediate moved into an argument register and passed to the next call,
// whose value changed by a line shift of the object. The line shifts (post
// line minus pre line, one per hunk that adds or removes lines) are those
// that something else in the object proves to be lines: the line field of
// a __bug_table entry, a dynamic debug descriptor's lineno, a UBSAN source
// location, or an immediate argument right after a file name (a string
// literal naming a .c or .h file: __FILE__) or a __func__ object in the
// same call, the way WARN, might_sleep and subsystems' error helpers
// (__ext4_error, __btrfs_handle_fs_error, asswarn) pass it. A changed
// constant argument whose change is not such a shift stays a change.

// lineArg is an immediate argument that differs between a and b at the
// instruction at Off of both.
type lineArg struct {
	off      int
	pre      int64
	post     int64
	arg      int
	callee   string
	evidence bool // passed right after __FILE__ or __func__
}

// lineArgs returns the differing bytes of a and b (same size, same
// relocations) as immediate arguments of calls, or false when some
// difference is not one.
func (d *differ) lineArgs(a, b *Function, diffs []int) ([]lineArg, bool) {
	ia, ib := a.Insns(), b.Insns()
	var out []lineArg
	last := -1
	for _, off := range diffs {
		x, ok1 := arch.Containing(ia, off)
		y, ok2 := arch.Containing(ib, off)
		if !ok1 || !ok2 || x.Off != y.Off || x.Len != y.Len || !x.MovImm || !y.MovImm || x.Reg != y.Reg || y.Arg == 0 {
			return nil, false
		}
		if x.Off == last {
			continue
		}
		last = x.Off
		call, ok := nextCall(b, x.Off+x.Len)
		if !ok {
			return nil, false
		}
		out = append(out, lineArg{off: x.Off, pre: x.Imm, post: y.Imm, arg: y.Arg,
			callee: call.Target.Sym.Name, evidence: passesLocation(b, x.Off, int(call.Offset), y.Arg)})
	}
	return out, true
}

// findLineShifts collects the lines the object proves (see lineArg), moved
// or not, sorted by their pre-patch line.
func (d *differ) findLineShifts() {
	add := func(pre, post int64) {
		if pre > 0 && post > 0 {
			d.lines = append(d.lines, provenLine{pre, post})
		}
	}
	for _, b := range d.post.Functions {
		ps := d.rpair[b.Sym]
		if ps == nil {
			continue
		}
		a := ps.Function()
		if a.Size == b.Size && len(a.Relocs) == len(b.Relocs) {
			if args, ok := d.lineArgs(a, b, byteDiffs(a.Code, b.Code, a.Relocs, b.Relocs)); ok {
				for _, la := range args {
					if la.evidence {
						add(la.pre, la.post)
					}
				}
			}
		}
		ea, eb := a.entriesOf("__bug_table"), b.entriesOf("__bug_table")
		if len(ea) == len(eb) {
			for i := range ea {
				la, oka := bugLine(ea[i])
				lb, okb := bugLine(eb[i])
				if oka && okb {
					add(la, lb)
				}
			}
		}
		if len(a.Relocs) == len(b.Relocs) {
			for i := range a.Relocs {
				la, _, oka := ubsanLocation(a.Relocs[i].Target)
				lb, _, okb := ubsanLocation(b.Relocs[i].Target)
				if oka && okb {
					add(int64(la), int64(lb))
				}
			}
		}
		for _, name := range ddebugSections {
			ea, eb = a.entriesOf(name), b.entriesOf(name)
			if len(ea) == len(eb) {
				for i := range ea {
					la, oka := ddebugLine(ea[i])
					lb, okb := ddebugLine(eb[i])
					if oka && okb {
						add(la, lb)
					}
				}
			}
		}
	}
	slices.SortFunc(d.lines, func(x, y provenLine) int { return cmp.Compare(x.pre, y.pre) })
}

// lineShift reports whether pre -> post moves a line the way the proven
// lines around it moved: an edit shifts every line after it by the same
// amount, so a line between two proven lines moved by the shift of the one
// before it or of the one after it (the edit may lie between them).
func (d *differ) lineShift(pre, post int64) bool {
	if pre <= 0 || post <= 0 || pre == post {
		return false
	}
	i, _ := slices.BinarySearchFunc(d.lines, pre, func(l provenLine, p int64) int { return cmp.Compare(l.pre, p) })
	// d.lines[i] is the first proven line at or after pre.
	if i < len(d.lines) && d.lines[i].post-d.lines[i].pre == post-pre {
		return true
	}
	return i > 0 && d.lines[i-1].post-d.lines[i-1].pre == post-pre
}

// entriesOf returns the function's entries of one special section.
func (f *Function) entriesOf(special string) []*Entry {
	var out []*Entry
	for _, e := range f.Entries {
		if e.Special.Name == special {
			out = append(out, e)
		}
	}
	return out
}

// lineNoise reports whether every difference between a and b (same size,
// same relocations) is a __LINE__ argument moved by a line shift of the
// object, and describes them.
func (d *differ) lineNoise(a, b *Function, diffs []int) ([]string, bool) {
	args, ok := d.lineArgs(a, b, diffs)
	if !ok {
		return nil, false
	}
	var noise []string
	for _, la := range args {
		if !d.lineShift(la.pre, la.post) {
			return nil, false
		}
		noise = append(noise, fmt.Sprintf("__LINE__ argument %d of %s at +%#x: %d -> %d", la.arg, la.callee, la.off, la.pre, la.post))
	}
	return noise, true
}

// nextCall returns the relocation of the first call or jump out of the
// function at or after off, within 64 bytes. A call is recognised by its
// instruction, whatever its relocation type (R_X86_64_PLT32, or PC32 from
// older binutils).
func nextCall(fn *Function, off int) (Reloc, bool) {
	for _, r := range fn.Relocs {
		if r.Offset < uint64(off) || r.Target.Sym == nil || !fn.file.Arch.BranchField(fn.Code, int(r.Offset), r.Info.Kind) {
			continue
		}
		if r.Offset > uint64(off)+64 {
			break
		}
		if r.Target.Sym.Defined() && r.Target.Sym.Function() == fn {
			continue // a branch within the function
		}
		return r, true
	}
	return Reloc{}, false
}

// passesLocation reports whether the call whose relocated field is at call
// gets, in the argument right before argument arg, a file name (a string
// literal ending in .c or .h, as __FILE__ is) or a __func__ (gcc's
// __func__.N object, or a pooled string naming the caller, as clang emits
// it), set up since the previous call: "__FILE__, __LINE__" and "__func__, __LINE__"
// are how the kernel's macros pass a location.
func passesLocation(fn *Function, from, call, arg int) bool {
	if arg < 2 {
		return false
	}
	lo := 0
	for _, r := range fn.Relocs {
		if int(r.Offset) >= from {
			break
		}
		if fn.file.Arch.BranchField(fn.Code, int(r.Offset), r.Info.Kind) {
			lo = int(r.Offset) + r.Info.Size
		}
	}
	insns := fn.Insns()
	for _, r := range fn.Relocs {
		if int(r.Offset) < lo || int(r.Offset) >= call {
			continue
		}
		if in, ok := arch.Containing(insns, int(r.Offset)); !ok || in.AddrArg != arg-1 {
			continue
		}
		t := r.Target
		if t.IsString && (strings.HasSuffix(t.String, ".c") || strings.HasSuffix(t.String, ".h")) {
			return true
		}
		if o := t.Sym.Object(); o != nil && o.key == "__func__" {
			return true
		}
		if name, _, _ := strings.Cut(fn.Name, "."); t.IsString && t.String == name {
			return true // clang pools __func__ with the string literals
		}
	}
	return false
}

// compareEntries compares the special-section entries of a and b.
func (d *differ) compareEntries(rs *reasonList, a, b *Function) (noise []string) {
	group := func(es []*Entry) (map[string][]*Entry, []string) {
		m := map[string][]*Entry{}
		var names []string
		for _, e := range es {
			if _, ok := m[e.Special.Name]; !ok {
				names = append(names, e.Special.Name)
			}
			m[e.Special.Name] = append(m[e.Special.Name], e)
		}
		return m, names
	}
	ga, na := group(a.Entries)
	gb, nb := group(b.Entries)
	for _, n := range nb {
		if !slices.Contains(na, n) {
			na = append(na, n)
		}
	}
	for _, name := range na {
		ea, eb := ga[name], gb[name]
		if len(ea) != len(eb) {
			rs.add("%s entries %d -> %d", name, len(ea), len(eb))
			continue
		}
		for i := range ea {
			x, y := ea[i], eb[i]
			what := fmt.Sprintf("%s entry %d: ", name, i)
			if x.Anchor != y.Anchor {
				rs.add("%sat +%#x -> +%#x", what, x.Anchor, y.Anchor)
				continue
			}
			if name == "__jump_table" {
				if n, ok := d.degenerateJump(x, y); ok {
					noise = append(noise, n)
					continue
				}
			}
			if !d.compareRelocs(rs, what, x.Relocs, y.Relocs) {
				continue
			}
			diffs := byteDiffs(x.Data, y.Data, x.Relocs, y.Relocs)
			if len(x.Data) != len(y.Data) {
				rs.add("%ssize %d -> %d", what, len(x.Data), len(y.Data))
				continue
			}
			if len(diffs) == 0 {
				continue
			}
			if slices.Contains(ddebugSections, name) {
				if lo, ok := afterRelocs(x, 4); ok && diffs[0] >= lo && diffs[len(diffs)-1] < lo+4 &&
					(binary.LittleEndian.Uint32(x.Data[lo:])^binary.LittleEndian.Uint32(y.Data[lo:]))&^ddebugLineMask == 0 {
					la, _ := ddebugLine(x)
					lb, _ := ddebugLine(y)
					noise = append(noise, fmt.Sprintf("%s descriptor %d lineno: %d -> %d", name, i, la, lb))
					continue
				}
			}
			if name == "__bug_table" {
				if lo, ok := bugLineField(x); ok && diffs[0] >= lo && diffs[len(diffs)-1] < lo+2 {
					noise = append(noise, fmt.Sprintf("__bug_table line at +%#x: %d -> %d", x.Anchor,
						binary.LittleEndian.Uint16(x.Data[lo:]), binary.LittleEndian.Uint16(y.Data[lo:])))
					continue
				}
			}
			rs.add("%sbytes differ at +%#x", what, diffs[0])
		}
	}
	return noise
}

// degenerateJump reports whether jump entries x and y (same anchor) differ
// only in a target that is, in both, the instruction right after the site:
// the branch is a no-op whether the key is on or off, so where the target
// lands (the next function of a shared text section, padding) does not
// matter.
func (d *differ) degenerateJump(x, y *Entry) (string, bool) {
	i := degenerateTarget(x)
	if i < 0 || i != degenerateTarget(y) || len(x.Relocs) != len(y.Relocs) || d.sameTarget(x.Relocs[i].Target, y.Relocs[i].Target) {
		return "", false
	}
	var rs reasonList
	without := func(r []Reloc) []Reloc { return slices.Delete(slices.Clone(r), i, i+1) }
	if !d.compareRelocs(&rs, "", without(x.Relocs), without(y.Relocs)) || len(x.Data) != len(y.Data) ||
		len(byteDiffs(x.Data, y.Data, x.Relocs, y.Relocs)) > 0 {
		return "", false
	}
	return fmt.Sprintf("__jump_table entry at +%#x: degenerate target (the next instruction) %s -> %s",
		x.Anchor, x.Relocs[i].Target.describe(), y.Relocs[i].Target.describe()), true
}

// degenerateTarget returns the index of the relocation of jump entry e
// whose target is the instruction right after its site, or -1.
func degenerateTarget(e *Entry) int {
	fn := e.Owner
	if fn == nil || e.Anchor < 0 || e.Anchor >= int64(len(fn.Code)) {
		return -1
	}
	next := int64(fn.Offset) + e.Anchor + int64(fn.file.Arch.JumpSiteLen(fn.Code[e.Anchor:]))
	for i, r := range e.Relocs {
		if sec, off, ok := r.Target.location(); ok && sec == fn.Section && off == next {
			return i
		}
	}
	return -1
}

// bugLineField returns the offset of the line number in a __bug_table entry:
// struct bug_entry has, in every kernel since 2.6.19, the address and file
// (the relocated fields) followed by the 16-bit line and flags.
func bugLineField(e *Entry) (int, bool) {
	if len(e.Relocs) < 2 {
		return 0, false // no file and line without CONFIG_DEBUG_BUGVERBOSE
	}
	end := 0
	for _, r := range e.Relocs {
		end = max(end, int(r.Offset)+r.Info.Size)
	}
	return end, end+2 <= len(e.Data)
}

// bugLine returns the line of a __bug_table entry.
func bugLine(e *Entry) (int64, bool) {
	lo, ok := bugLineField(e)
	if !ok {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint16(e.Data[lo:])), true
}

func (d *differ) compareObjects() {
	d.ddOf = map[*Object]*DataDiff{}
	for _, o := range d.post.Objects {
		dd := &DataDiff{Name: o.Name, Section: o.Section.Name, Post: o, Reasons: []string{}}
		if ps := d.rpair[o.Sym]; ps != nil {
			dd.Pre = ps.Object()
			var rs reasonList
			if dd.Pre.Size != o.Size {
				rs.add("size %#x -> %#x", dd.Pre.Size, o.Size)
			}
			d.compareRelocs(&rs, "", dd.Pre.Relocs, o.Relocs)
			// Zero-initialized objects live in .bss (no contents): compare
			// initializers, so that "static int x;" -> "static int x = 1;"
			// (.bss.x -> .data.x) is the data change it is.
			if diffs := byteDiffs(dd.Pre.Initializer(), o.Initializer(), dd.Pre.Relocs, o.Relocs); len(diffs) > 0 {
				rs.add("initializer differs at +%#x", diffs[0])
			}
			dd.Reasons = rs.list()
			switch {
			case len(dd.Reasons) == 0:
				dd.Status = StatusUnchanged
			case printkRecord(d.post, o):
				dd.Status = StatusNoise
				dd.Reasons = append([]string{"printk index record"}, dd.Reasons...)
			default:
				dd.Status = StatusChanged
			}
			if dd.Pre.Name != o.Name {
				dd.Reasons = append(dd.Reasons, fmt.Sprintf("was %s", dd.Pre.Name))
			}
		} else {
			dd.Status = StatusNew
		}
		d.ddOf[o] = dd
		d.res.Data = append(d.res.Data, dd)
	}
	for _, o := range d.pre.Objects {
		if d.pair[o.Sym] == nil {
			dd := &DataDiff{Name: o.Name, Section: o.Section.Name, Status: StatusRemoved, Pre: o, Reasons: []string{}}
			d.ddOf[o] = dd
			d.res.Data = append(d.res.Data, dd)
		}
	}
}

// printkRecord reports whether o is referenced only by .printk_index
// entries: a record of the printk index (format, function, file, line), read
// only through debugfs.
func printkRecord(f *File, o *Object) bool {
	found := false
	for _, sp := range f.Special {
		for _, e := range sp.Entries {
			for _, r := range e.Relocs {
				if r.Target.Sym.Object() == o {
					if sp.Name != ".printk_index" {
						return false
					}
					found = true
				}
			}
		}
	}
	if !found {
		return false
	}
	for _, fn := range f.Functions {
		for _, r := range fn.Relocs {
			if r.Target.Sym.Object() == o {
				return false
			}
		}
	}
	return true
}

// carryClosure marks what the update must carry: changed and new functions,
// their .cold/.part relatives, and, until nothing moves, functions that a
// carried function references in the middle, and functions that reference
// a carried function in the middle (their jump would land in old code).
func (d *differ) carryClosure() {
	d.findCallers()
	for _, fd := range d.res.Functions {
		if fd.Status == StatusChanged || fd.Status == StatusNew {
			fd.Carry = true
		}
	}
	carry := func(g *Function, why string, args ...any) bool {
		fd := d.fdOf[g]
		if fd == nil || fd.Carry {
			return false
		}
		fd.Carry = true
		fd.Reasons = append(fd.Reasons, "carried: "+fmt.Sprintf(why, args...))
		return true
	}
	for moved := true; moved; {
		moved = false
		for _, g := range d.post.Functions {
			if d.fdOf[g].Carry {
				if g.Parent != nil && carry(g.Parent, "parent of carried %s", g.Name) {
					moved = true
				}
				for _, c := range g.Children {
					if carry(c, "part of carried %s", g.Name) {
						moved = true
					}
				}
			}
			if fd := d.fdOf[g]; fd.Carry && !fd.ThroughCallers && d.reachedThroughCallers(fd) {
				fd.ThroughCallers = true
				fd.Reasons = append(fd.Reasons, "no ftrace site: carried as new code, its callers replaced")
				for _, c := range d.callers[g] {
					if carry(c, "calls %s, which has no ftrace site", g.Name) {
						moved = true
					}
				}
			}
			for _, r := range g.Relocs {
				h := r.Target.Sym.Function()
				if h == nil || h == g || r.Target.Off == 0 {
					continue
				}
				if d.fdOf[g].Carry && carry(h, "carried %s references +%#x inside it", g.Name, r.Target.Off) {
					moved = true
				}
				if d.fdOf[h].Carry && carry(g, "references +%#x inside carried %s", r.Target.Off, h.Name) {
					moved = true
				}
			}
		}
	}
	for _, dd := range d.res.Data {
		if dd.Status == StatusNew {
			dd.Carry = true
		}
	}
}

// findCallers records, for each function of the post object, the functions
// whose code calls or jumps to it directly, and marks the functions that
// anything else refers to (data, special sections other than ftrace's and
// ORC's, or code that takes the address).
func (d *differ) findCallers() {
	d.callers = map[*Function][]*Function{}
	d.otherRefs = map[*Function]bool{}
	a := d.post.Arch
	for _, g := range d.post.Functions {
		for _, r := range g.Relocs {
			h := r.Target.Sym.Function()
			if h == nil || h == g {
				continue
			}
			if r.Target.Off == 0 && a.BranchField(g.Code, int(r.Offset), r.Info.Kind) {
				if !slices.Contains(d.callers[h], g) {
					d.callers[h] = append(d.callers[h], g)
				}
			} else {
				d.otherRefs[h] = true
			}
		}
		for _, e := range g.Entries {
			switch e.Special.Name {
			case ".orc_unwind_ip", ".orc_unwind", "__bug_table", "__ex_table", "__jump_table",
				".altinstructions", ".static_call_sites", ".call_sites", ".return_sites", ".retpoline_sites":
				continue // about g's own code, not a way into another function
			}
			for _, r := range e.Relocs {
				if h := r.Target.Sym.Function(); h != nil && h != g {
					d.otherRefs[h] = true
				}
			}
		}
	}
	for _, o := range d.post.Objects {
		for _, r := range o.Relocs {
			if h := r.Target.Sym.Function(); h != nil {
				d.otherRefs[h] = true
			}
		}
	}
}

// reachedThroughCallers reports whether a carried function without an
// ftrace site can be reached through its callers instead: it is local to
// the object, every reference to it is a direct call from a function of
// the object, and there is at least one.
func (d *differ) reachedThroughCallers(fd *FuncDiff) bool {
	f, g := fd.Pre, fd.Post
	if f == nil || g == nil || strings.Contains(f.Name, ".cold") ||
		f.FtraceSiteAtEntry(d.pre.Arch.FtraceSiteMaxOffset) {
		return false
	}
	return g.Sym.Bind == elf.STB_LOCAL && !d.otherRefs[g] && len(d.callers[g]) > 0
}

// refuse applies the refusal rules.
func (d *differ) refuse() {
	a := d.post.Arch
	for _, fd := range d.res.Functions {
		if !fd.Carry {
			continue
		}
		g := fd.Post
		if g.Section.Init() {
			d.refusal(fd.Name, g.Section.Name, RuleInit,
				"%s is __init or __exit code (section %s): init code ran at boot and was freed, exit code runs at unload; "+
					"put the fix in code that runs later, or apply it with a load hook", fd.Name, g.Section.Name)
			continue
		}
		// The engine sends calls of a replaced function to its
		// replacement from the function's ftrace site, as livepatch
		// does, or, for a function without one (built without -pg, an
		// out-of-line copy of an inline function), by a direct jump
		// over its first instructions, where they allow it
		// (jumpWindow). .cold parts are reached through their parent.
		if f := fd.Pre; f != nil && !strings.Contains(f.Name, ".cold") && !fd.ThroughCallers {
			switch {
			case f.FtraceSiteAtEntry(a.FtraceSiteMaxOffset):
			case f.HasFtraceSite():
				d.refusal(fd.Name, g.Section.Name, RuleNoFtraceSite,
					"%s has its ftrace call site at +%#x, not at its entry, through which ksplice redirects its calls: "+
						"patch its callers instead", f.Name, f.FtraceSite)
			default:
				w, why := d.jumpWindow(f, g)
				if w == nil {
					d.refusal(fd.Name, g.Section.Name, RuleNoFtraceSite,
						"%s has no ftrace call site (notrace, or built without -pg), and no direct jump can replace it: %s; "+
							"patch its callers instead", f.Name, why)
					continue
				}
				fd.Jump = w
			}
		}
	}
	for _, dd := range d.res.Data {
		if dd.Status != StatusChanged {
			continue
		}
		o := dd.Post
		sec := o.Section.Name
		switch {
		case o.Section.Init():
			d.refusal(dd.Name, sec, RuleInitData, "%s is __initdata (section %s) and changed: it was used at boot and freed", dd.Name, sec)
		case strings.HasPrefix(sec, ".data..read_mostly"):
			d.refusal(dd.Name, sec, RuleReadMostly, "%s in .data..read_mostly changed (%s): it holds run-time state; "+
				"set the new value from a load hook instead", dd.Name, strings.Join(dd.Reasons, "; "))
		case strings.HasPrefix(sec, ".data.once"):
			d.refusal(dd.Name, sec, RuleDataOnce, "%s in .data.once changed (%s): once-flags hold run-time state; "+
				"leave them as they are or use a new flag", dd.Name, strings.Join(dd.Reasons, "; "))
		case o.Section.Writable():
			d.refusal(dd.Name, sec, RuleDataChanged, "initializer of %s changed (%s): the running kernel's copy keeps its "+
				"current value; set it from a load hook, or use shadow data", dd.Name, strings.Join(dd.Reasons, "; "))
		default:
			var unchanged []string
			for _, g := range d.post.Functions {
				if d.fdOf[g].Carry {
					continue
				}
				for _, r := range g.Relocs {
					if r.Target.Sym.Object() == o {
						unchanged = append(unchanged, g.Name)
						break
					}
				}
			}
			if len(unchanged) > 0 {
				d.refusal(dd.Name, sec, RuleRodataChanged, "read-only %s changed (%s) but unchanged %s uses it: "+
					"change the code that uses it too, or add the new data under a new name", dd.Name,
					strings.Join(dd.Reasons, "; "), strings.Join(unchanged, ", "))
			} else {
				dd.Carry = true
			}
		}
	}
	d.refuseStrayReferences()
}

// refuseStrayReferences refuses references into the middle of carried
// functions from places an update cannot rewrite: data the update does not
// carry and sections elfdiff does not know.
func (d *differ) refuseStrayReferences() {
	mid := func(t Target) *FuncDiff {
		if fn := t.Sym.Function(); fn != nil && t.Off != 0 {
			if fd := d.fdOf[fn]; fd != nil && fd.Carry {
				return fd
			}
		}
		return nil
	}
	for _, o := range d.post.Objects {
		if d.ddOf[o].Carry {
			continue
		}
		for _, r := range o.Relocs {
			if fd := mid(r.Target); fd != nil {
				d.refusal(o.Name, o.Section.Name, RuleMiddleReference, "%s points to +%#x inside carried function %s "+
					"and cannot be rewritten", o.Name, r.Target.Off, fd.Name)
			}
		}
	}
	seen := map[string]bool{}
	for _, sec := range d.post.Sections[1:] {
		if sec.Kind != KindOther {
			continue
		}
		for _, r := range sec.Relocs {
			t := d.post.target(r.Sym, r.Addend)
			if fd := mid(t); fd != nil && !seen[sec.Name+fd.Name] {
				seen[sec.Name+fd.Name] = true
				d.refusal(fd.Name, sec.Name, RuleUnknownSection, "section %s, which ksplice does not know, points to +%#x "+
					"inside carried function %s: its entries cannot be carried", sec.Name, t.Off, fd.Name)
			}
		}
	}
	d.refuseChangedUnknownSections()
	d.refuseChangedUnattached()
}

// objtoolSections are special sections objtool derives from the code when
// it checks an object; it makes them anew for the code an update carries.
var objtoolSections = []string{".orc_unwind", ".orc_unwind_ip", ".return_sites", ".retpoline_sites",
	".call_sites", ".ibt_endbr_seal"}

// refuseChangedUnattached compares the special-section entries that belong
// to no function (a dynamic debug class map, an exception table entry of
// toplevel asm), in order per section: nothing carries them, so any change
// is refused rather than dropped. Entries objtool derives from the code, and
// entries for code in a payload section (.altinstr_replacement, compared
// with the alternative that uses it), are left out.
func (d *differ) refuseChangedUnattached() {
	group := func(es []*Entry) (map[string][]*Entry, []string) {
		m := map[string][]*Entry{}
		var names []string
		for _, e := range es {
			if slices.Contains(objtoolSections, e.Special.Name) {
				continue
			}
			if len(e.Relocs) > 0 {
				if sec, _, ok := e.Relocs[0].Target.location(); ok && slices.Contains(payloadSections, sec.Name) {
					continue
				}
			}
			if _, ok := m[e.Special.Name]; !ok {
				names = append(names, e.Special.Name)
			}
			m[e.Special.Name] = append(m[e.Special.Name], e)
		}
		return m, names
	}
	ga, na := group(d.pre.Unattached)
	gb, nb := group(d.post.Unattached)
	for _, n := range nb {
		if !slices.Contains(na, n) {
			na = append(na, n)
		}
	}
	for _, name := range na {
		ea, eb := ga[name], gb[name]
		var rs reasonList
		if len(ea) != len(eb) {
			rs.add("%d entries -> %d", len(ea), len(eb))
		}
		for i := range min(len(ea), len(eb)) {
			what := fmt.Sprintf("entry %d: ", i)
			if d.compareRelocs(&rs, what, ea[i].Relocs, eb[i].Relocs) {
				if diffs := byteDiffs(ea[i].Data, eb[i].Data, ea[i].Relocs, eb[i].Relocs); len(diffs) > 0 || len(ea[i].Data) != len(eb[i].Data) {
					rs.add("%sbytes differ", what)
				}
			}
		}
		if l := rs.list(); len(l) > 0 {
			d.refusal(name, name, RuleUnknownSection, "entries of %s that belong to no function changed (%s): "+
				"nothing can carry them", name, strings.Join(l, "; "))
		}
	}
}

// refuseChangedUnknownSections compares the sections elfdiff does not know,
// by name: any difference is refused, since nothing can carry it.
func (d *differ) refuseChangedUnknownSections() {
	collect := func(f *File) map[string][]*Section {
		m := map[string][]*Section{}
		for _, s := range f.Sections[1:] {
			if s.Kind == KindOther {
				m[s.Name] = append(m[s.Name], s)
			}
		}
		return m
	}
	pa, pb := collect(d.pre), collect(d.post)
	var names []string
	for n := range pa {
		names = append(names, n)
	}
	for n := range pb {
		if _, ok := pa[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names) // ___ksymtab+NAME before __ksymtab_strings
	exportRefused := false
	for _, n := range names {
		a, b := pa[n], pb[n]
		if n == exportTableSection && d.refuseChangedExportTable(a, b) {
			continue
		}
		why := ""
		switch {
		case len(a) != len(b):
			why = fmt.Sprintf("%d sections -> %d", len(a), len(b))
		default:
			for i := range a {
				var rs reasonList
				ra := d.pre.resolve(a[i], 0, a[i].Size, nil)
				rb := d.post.resolve(b[i], 0, b[i].Size, nil)
				if a[i].Size != b[i].Size {
					rs.add("size %#x -> %#x", a[i].Size, b[i].Size)
				}
				d.compareRelocs(&rs, "", ra, rb)
				if diffs := byteDiffs(a[i].Data, b[i].Data, ra, rb); len(diffs) > 0 {
					rs.add("bytes differ at +%#x", diffs[0])
				}
				if l := rs.list(); len(l) > 0 {
					why = strings.Join(l, "; ")
					break
				}
			}
		}
		if why == "" {
			continue
		}
		if sym, ok := exportSection(n); ok {
			// EXPORT_SYMBOL(sym) emits ___ksymtab+sym (and
			// ___ksymtab_gpl+sym), whose entry the kernel's export table
			// holds from boot: an update cannot add or remove one.
			verb := "adds"
			if len(b) == 0 {
				verb = "removes"
			}
			d.refusal(sym, n, RuleExportChanged, "the patch %s EXPORT_SYMBOL(%s): the running kernel's table of exports cannot change; "+
				"leave the export as it is (modules built later can use an update's function only through an export that exists)", verb, sym)
			exportRefused = true
			continue
		}
		if n == "__ksymtab_strings" && exportRefused {
			continue // the names of the exports refused above
		}
		d.refusal(n, n, RuleUnknownSection, "section %s, which ksplice does not know how to carry, changed: %s: "+
			"the kernel reads such tables (quirks, initcalls, setup parameters) at boot or module load, and an update cannot change the running copy; "+
			"leave the section as it was and do the work from a hook (--hooks FILE.c)", n, why)
	}
}

// exportSection returns the symbol an export section (___ksymtab+NAME,
// ___ksymtab_gpl+NAME) exports.
func exportSection(name string) (string, bool) {
	for _, p := range []string{"___ksymtab+", "___ksymtab_gpl+"} {
		if sym, ok := strings.CutPrefix(name, p); ok {
			return sym, true
		}
	}
	return "", false
}

func (d *differ) refusal(sym, sec string, rule Rule, format string, args ...any) {
	d.res.Refusals = append(d.res.Refusals, Refusal{Symbol: sym, Section: sec, Rule: rule, Reason: fmt.Sprintf(format, args...)})
}
