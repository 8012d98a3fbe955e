package elfdiff

import (
	"bytes"
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
}

func (d *differ) link(a, b *Symbol) {
	d.pair[a] = b
	d.rpair[b] = a
}

// pairUp pairs the items of pre and post with equal keys: a single one on
// each side pairs directly; otherwise first those that are alike, then
// those with equal names, then the rest in order.
func pairUp[T any](pre, post []T, key, name func(T) string, alike func(a, b T) bool, link func(a, b T)) {
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
		func(a, b *Function) bool { return a.Size == b.Size && bytes.Equal(a.Code, b.Code) },
		func(a, b *Function) { d.link(a.Sym, b.Sym) })
}

// pairObjects pairs data objects by name, and static locals (count.0,
// count.1, ...) by the functions that use them.
func (d *differ) pairObjects() {
	d.preUsers = users(d.pre)
	d.postUsers = users(d.post)
	pairUp(d.pre.Objects, d.post.Objects,
		func(o *Object) string { return o.key },
		func(o *Object) string { return o.Name },
		func(a, b *Object) bool { return sameSet(d.preUsers[a], d.postUsers[b]) },
		func(a, b *Object) { d.link(a.Sym, b.Sym) })
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
	return rs.list(), noise
}

func siteString(off int64) string {
	if off < 0 {
		return "none"
	}
	return fmt.Sprintf("+%#x", off)
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
	return a.Sym.Name == b.Sym.Name && d.sameAnon(a.Sym.Section, b.Sym.Section)
}

// sameAnon compares sections that hold anonymous data (constant pools,
// alternative replacements) by content.
func (d *differ) sameAnon(a, b *Section) bool {
	if eq, ok := d.anonEq[a.Name]; ok {
		return eq
	}
	eq := a.Size == b.Size && bytes.Equal(a.Data, b.Data) && len(a.Relocs) == len(b.Relocs)
	if eq {
		d.anonEq[a.Name] = true // assume equal while comparing (cycles)
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
	d.anonEq[a.Name] = eq
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

// lineTakers are functions called with __LINE__ as an argument by the
// kernel's macros (might_sleep, WARN, printk of __LINE__, RCU lockdep).
var lineTakers = []string{
	"__might_sleep", "__might_resched", "__might_fault", "__cant_sleep", "__cant_migrate",
	"___might_sleep", "warn_slowpath_fmt", "__warn_printk", "_printk", "printk",
	"__dynamic_pr_debug", "__dynamic_dev_dbg", "__dynamic_netdev_dbg",
	"lockdep_rcu_suspicious", "_dev_warn", "_dev_err", "_dev_info", "_dev_notice",
}

// lineNoise reports whether every difference between a and b (same size,
// same relocations) lies in a move of an immediate into a register that
// feeds a call to a line-taking function: a __LINE__ moved by an unrelated
// edit.
func (d *differ) lineNoise(a, b *Function, diffs []int) ([]string, bool) {
	ia, ib := a.Insns(), b.Insns()
	var noise []string
	last := -1
	for _, off := range diffs {
		x, ok1 := arch.Containing(ia, off)
		y, ok2 := arch.Containing(ib, off)
		if !ok1 || !ok2 || x.Off != y.Off || x.Len != y.Len || !x.MovImm || !y.MovImm || x.Reg != y.Reg {
			return nil, false
		}
		if x.Off == last {
			continue
		}
		last = x.Off
		callee := nextCall(b, x.Off+x.Len)
		if !slices.Contains(lineTakers, callee) {
			return nil, false
		}
		noise = append(noise, fmt.Sprintf("__LINE__ argument of %s at +%#x: %d -> %d", callee, x.Off, x.Imm, y.Imm))
	}
	return noise, true
}

// nextCall returns the name of the function called by the first call or
// jump at or after off, within 64 bytes.
func nextCall(fn *Function, off int) string {
	for _, r := range fn.Relocs {
		if r.Offset < uint64(off) || r.Info.Kind != arch.RelocBranch || r.Target.Sym == nil {
			continue
		}
		if r.Offset > uint64(off)+64 {
			return ""
		}
		if r.Target.Sym.Defined() && r.Target.Sym.Function() == fn {
			continue // a branch within the function
		}
		return r.Target.Sym.Name
	}
	return ""
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
		if f := fd.Pre; f != nil && !strings.Contains(f.Name, ".cold") {
			need := a.MinFuncSize(f.FtraceSite >= 0)
			if int(f.Size) < need {
				d.refusal(fd.Name, g.Section.Name, RuleTooShort,
					"%s is %d bytes; the %s trampoline needs %d (at +%d): patch its callers instead, or make it longer",
					f.Name, f.Size, a.Name, need, a.TrampolineOffset(f.FtraceSite >= 0))
				continue
			}
			d.refuseTrampolineSites(fd, f)
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

// refuseTrampolineSites refuses a replaced function whose trampoline would
// overwrite a site the kernel rewrites at run time: on x86-64 the next
// static key flip or static_call_update() finds our jmp where it expects
// its own bytes and BUG()s; on arm64 it silently overwrites the trampoline's
// ldr. The old function (f) is the one that gets the trampoline.
func (d *differ) refuseTrampolineSites(fd *FuncDiff, f *Function) {
	a := d.pre.Arch
	lo := int64(a.TrampolineOffset(f.FtraceSite >= 0))
	hi := lo + int64(a.TrampolineSize)
	for _, e := range f.Entries {
		n := int64(e.SiteLen(a))
		if n == 0 || e.Anchor+n <= lo || e.Anchor >= hi {
			continue
		}
		d.refusal(fd.Name, fd.Post.Section.Name, RuleTrampolineSite,
			"%s has a %s site at +%#x (%d bytes), inside the %d-byte trampoline at +%#x, and the kernel rewrites it at run time: "+
				"move the code that needs it (a static branch, static call or alternative) further into the function, "+
				"or patch the callers of %s instead", f.Name, e.Special.Name, e.Anchor, n, a.TrampolineSize, lo, f.Name)
		return
	}
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
		d.refusal(n, n, RuleUnknownSection, "section %s, which ksplice does not know how to carry, changed: %s", n, why)
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
