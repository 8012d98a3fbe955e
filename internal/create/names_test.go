package create

import (
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/cdecl"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
	"github.com/ksplice-go/ksplice/internal/tudiff"
)

const namesHeader = `#ifndef _R_H
#define _R_H
/* rcu_momentary_dyntick_idle() - in a comment, not a use */
void rcu_barrier(void);
void rcu_momentary_dyntick_idle(void);
static inline int ratio(int a)
{
	return a / 2;
}
static inline void barrier_all(void) { rcu_barrier(); }
struct r {
	int n;
};
#define R_MAX 4
extern int r_count;
extern typeof(ratio) *r_hook;
#define R_BARRIER() barrier_all()
#endif
`

// namesEdit returns the edit of include/linux/r.h from namesHeader to after.
func namesEdit(t *testing.T, after string) (*srcpatch.Edit, string) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a/include/linux/r.h": namesHeader, "b/include/linux/r.h": after})
	diff := unifiedDiff(t, dir, "a/include/linux/r.h", "b/include/linux/r.h")
	p, err := srcpatch.Parse(strings.NewReader(diff))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Resolve(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	e, err := p.Edit(filepath.Join(dir, "a"), "include/linux/r.h")
	if err != nil {
		t.Fatal(err)
	}
	return e, diff
}

func TestHeaderChange(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		want           []string // functions, then types
		closed         []string // the names closeOver adds
		why            string
	}{
		{name: "renamed", from: "void rcu_momentary_dyntick_idle(void);", to: "void rcu_momentary_eqs(void);",
			want: []string{"rcu_momentary_dyntick_idle", "rcu_momentary_eqs"}},
		{name: "retyped parameter", from: "void rcu_momentary_dyntick_idle(void);", to: "void rcu_momentary_dyntick_idle(u32 *n);", want: []string{"rcu_momentary_dyntick_idle"}},
		{name: "comment", from: "in a comment, not a use", to: "still a comment", why: "it changes no declaration"},
		{name: "macro", from: "#define R_MAX 4", to: "#define R_MAX 5", why: "line 14 is a preprocessor directive"},
		{name: "struct", from: "int n;", to: "long n;", want: []string{"struct r"}},
		{name: "variable", from: "extern int r_count;", to: "extern long r_count;", why: "neither a function's nor only a type's definition"},
		// An inline that calls a changed function, and a macro
		// that calls that inline, change with it.
		{name: "used by an inline", from: "void rcu_barrier(void);", to: "void rcu_barrier(int);", want: []string{"rcu_barrier"}, closed: []string{"barrier_all", "R_BARRIER"}},
		{name: "named in a variable's declaration", from: "return a / 2;", to: "return a >> 1;", want: []string{"ratio"}, why: "it names ratio outside the changed declarations, where no function or macro stands for it (line 16)"},
		{name: "external definition", from: "static inline int ratio(int a)", to: "int ratio(int a)", why: "line 6 is in the definition of ratio, with external linkage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			after := strings.Replace(namesHeader, tc.from, tc.to, 1)
			if after == namesHeader {
				t.Fatalf("%q is not in the header", tc.from)
			}
			e, _ := namesEdit(t, after)
			funcs, types, why := headerChange(e)
			var closed []string
			if why == "" {
				set := newNameSet()
				for _, n := range funcs {
					set.add(n)
				}
				for grew := true; grew && why == ""; {
					var added []string
					added, why = closeOver(e, set)
					closed = append(closed, added...)
					grew = len(added) > 0
				}
			}
			if tc.why != "" {
				if !strings.Contains(why, tc.why) {
					t.Fatalf("why = %q (functions %v, types %v), want %q", why, funcs, types, tc.why)
				}
				return
			}
			if got := append(funcs, types...); why != "" || !slices.Equal(got, tc.want) || !slices.Equal(closed, tc.closed) {
				t.Errorf("got %v, closed over %v (%q), want %v and %v", got, closed, why, tc.want, tc.closed)
			}
		})
	}
}

// TestMemberNames: a member's name is a use only where a member can be
// named; another structure's member of that name is not one.
func TestMemberNames(t *testing.T) {
	tree := t.TempDir()
	files := map[string]string{
		"include/net/xdp.h":     "struct xdp_rxq_info { u32 reg_state; };\n",
		"net/core/dev.c":        "int f(struct net_device *d) { return d->reg_state; }\n",
		"net/core/init.c":       "struct net_device d = { .reg_state = 1 };\n",
		"net/core/offset.c":     "size_t o = offsetof(struct net_device, reg_state);\n",
		"net/core/macro.h":      "#define RS(d) (d)->reg_state\n",
		"net/core/local.c":      "int g(void) { int reg_state = 0; return reg_state; }\n",
		"drivers/net/state.c":   "int h(int x) { return x == NETREG_DUMMY; }\n",
		"drivers/net/builtin.c": "void k(void *p) { __builtin_memset(p, 0, 4); }\n",
	}
	writeFiles(t, tree, files)
	set := newNameSet()
	set.addMember("reg_state")
	set.add("NETREG_DUMMY")
	set.add("memset")
	found, err := filesNaming(tree, set, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"drivers/net/builtin.c", "drivers/net/state.c", "net/core/dev.c", "net/core/init.c", "net/core/macro.h", "net/core/offset.c"}
	if got := slices.Sorted(maps.Keys(found)); !slices.Equal(got, want) {
		t.Errorf("filesNaming = %v, want %v", got, want)
	}
	// A member's name that is a name of its own too counts everywhere.
	set.add("reg_state")
	if found, err = filesNaming(tree, set, nil); err != nil || found["net/core/local.c"] == nil || found["include/net/xdp.h"] == nil {
		t.Errorf("reg_state as a name: filesNaming = %v, %v", found, err)
	}
}

func TestByName(t *testing.T) {
	renamed := strings.Replace(namesHeader, "void rcu_momentary_dyntick_idle(void);", "void rcu_momentary_eqs(void);", 1)
	after := strings.Replace(namesHeader, "void rcu_momentary_dyntick_idle(void);", "void rcu_momentary_eqs(void);", 1)
	e, diff := namesEdit(t, after)
	_ = e
	// A tree: the header, its includers, one that calls the function,
	// one through another header, one that pastes its name.
	tree := t.TempDir()
	files := map[string]string{
		"include/linux/r.h":     namesHeader,
		"include/linux/wrap.h":  "#include <linux/r.h>\nstatic inline void idle(void) { rcu_momentary_dyntick_idle(); }\n",
		"include/linux/paste.h": "#include <linux/r.h>\n#define MOMENT(x) rcu_momentary_##x()\n",
		"kernel/caller.c":       "#include <linux/r.h>\nvoid f(void) { rcu_momentary_dyntick_idle(); }\n",
		"kernel/wrapped.c":      "#include <linux/wrap.h>\nvoid g(void) { idle(); }\n",
		"kernel/pasted.c":       "#include <linux/paste.h>\nvoid h(void) { MOMENT(eqs); }\n",
		"kernel/other.c":        "#include <linux/r.h>\n/* rcu_momentary_eqs */\nvoid i(void) { rcu_barrier(); }\n",
		"mm/plain.c":            "#include <linux/r.h>\nint j;\n",
		"mm/usew.c":             "#include <linux/w2.h>\nvoid u(void) { w(); }\n",
		"tools/x.c":             "void rcu_momentary_eqs(void);\n",
	}
	writeFiles(t, tree, files)
	p, err := srcpatch.Parse(strings.NewReader(diff))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Resolve(tree); err != nil {
		t.Fatal(err)
	}
	idx, err := indexIncludes(tree)
	if err != nil {
		t.Fatal(err)
	}
	includers := func(f string) ([]string, error) { return idx.includers(f, "x86"), nil }
	reached := []string{"kernel/caller.o", "kernel/other.o", "kernel/pasted.o", "kernel/wrapped.o", "mm/plain.o"}
	got, later, err := byName(tree, p, map[string][]string{"include/linux/r.h": reached}, reached, includers, nil, io.Discard)
	if err != nil || later {
		t.Fatal(err, later)
	}
	want := []string{"kernel/caller.o", "kernel/pasted.o", "kernel/wrapped.o"}
	if !slices.Equal(got, want) {
		t.Errorf("byName = %v, want %v", got, want)
	}

	// Another changed header, its own change a function's, whose
	// unchanged inline calls the renamed function: the inline changes
	// too, and its includers that call it (mm/usew.o) are kept, those
	// that do not (mm/plain.o) are not.
	w2 := "#include <linux/r.h>\nvoid unrelated(void);\nstatic inline void w(void) { rcu_momentary_dyntick_idle(); }\n"
	p = changedHeaders(t, tree, map[string][2]string{
		"include/linux/r.h":  {namesHeader, renamed},
		"include/linux/w2.h": {w2, strings.Replace(w2, "unrelated(void)", "unrelated(int)", 1)},
	})
	var log strings.Builder
	withW := append(slices.Clone(reached), "mm/usew.o")
	got, _, err = byName(tree, p, map[string][]string{"include/linux/r.h": reached, "include/linux/w2.h": {"mm/plain.o", "mm/usew.o"}}, withW, includers, nil, &log)
	if want := []string{"kernel/caller.o", "kernel/pasted.o", "kernel/wrapped.o", "mm/usew.o"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("an inline of another changed header calls the function: byName = %v, %v (%s); want %v", got, err, log.String(), want)
	}

	// With another header whose change is to a type, which mm/plain.o
	// alone includes: without a witness, that object is kept, the rest
	// narrowed by name, and byName is to be called again.
	lt := "struct lt { int n; };\n"
	p = changedHeaders(t, tree, map[string][2]string{
		"include/linux/r.h": {namesHeader, renamed},
		"mm/lt.h":           {lt, strings.Replace(lt, "int n", "long n", 1)},
	})
	ltHeaders := map[string][]string{"include/linux/r.h": reached, "mm/lt.h": {"mm/plain.o"}}
	got, later, err = byName(tree, p, ltHeaders, reached, includers, nil, io.Discard)
	if want := []string{"kernel/caller.o", "kernel/pasted.o", "kernel/wrapped.o", "mm/plain.o"}; err != nil || !later || !slices.Equal(got, want) {
		t.Errorf("with a type's change reaching mm/plain.o: byName = %v, %v, %v; want %v, later", got, later, err, want)
	}
	// With a witness: what it says decides.
	for _, wc := range []struct {
		name string
		ch   tudiff.Changes
		kept bool
	}{
		{"laid out otherwise", tudiff.Changes{Why: "struct lt changes its layout", Defined: []string{"lt"}}, true},
		{"a member retyped", tudiff.Changes{Names: []string{"n"}, Members: []string{"n"}, Defined: []string{"lt"}}, false},
		{"a member retyped that the object names", tudiff.Changes{Names: []string{"j"}, Members: []string{"j"}, Defined: []string{"lt"}}, false},
		{"a type's name the object uses", tudiff.Changes{Names: []string{"j"}, Defined: []string{"lt"}}, true},
		{"the type not in the unit", tudiff.Changes{Names: []string{"n"}}, true},
	} {
		asked := ""
		w := func(h string, objs []string) (tudiff.Changes, string, error) {
			asked = h + ":" + strings.Join(objs, ",")
			return wc.ch, "mm/plain.o", nil
		}
		var log strings.Builder
		got, later, err = byName(tree, p, ltHeaders, reached, includers, w, &log)
		if err != nil || later || asked != "mm/lt.h:mm/plain.o" || slices.Contains(got, "mm/plain.o") != wc.kept {
			t.Errorf("witness says %s: byName = %v, %v, %v (asked %q); want mm/plain.o kept %v\n%s", wc.name, got, later, err, asked, wc.kept, &log)
		}
	}

	// A function of a header is seen only by the objects that include
	// it: kernel/namesake.c, which has a static of the same name and
	// includes only the other changed header, w3.h, is not kept.
	w3 := "void w3fn(void);\n"
	writeFiles(t, tree, map[string]string{"kernel/namesake.c": "#include <linux/w3.h>\nstatic void rcu_momentary_dyntick_idle(void) { }\n"})
	p = changedHeaders(t, tree, map[string][2]string{
		"include/linux/r.h":  {namesHeader, renamed},
		"include/linux/w3.h": {w3, "void w3fn(int);\n"},
	})
	if idx, err = indexIncludes(tree); err != nil {
		t.Fatal(err)
	}
	withNamesake := append(slices.Clone(reached), "kernel/namesake.o")
	got, _, err = byName(tree, p, map[string][]string{"include/linux/r.h": reached, "include/linux/w3.h": {"kernel/namesake.o"}}, withNamesake, includers, nil, io.Discard)
	if want := []string{"kernel/caller.o", "kernel/pasted.o", "kernel/wrapped.o"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("a namesake static in an object of another header: byName = %v, %v; want %v", got, err, want)
	}

	// A change that is not only functions' keeps every object, until a
	// witness reads it.
	after = strings.Replace(namesHeader, "int n;", "long n;", 1)
	_, diff = namesEdit(t, after)
	if p, err = srcpatch.Parse(strings.NewReader(diff)); err != nil {
		t.Fatal(err)
	}
	if err := p.Resolve(tree); err != nil {
		t.Fatal(err)
	}
	got, later, err = byName(tree, p, map[string][]string{"include/linux/r.h": reached}, reached, includers, nil, io.Discard)
	if err != nil || !later || !slices.Equal(got, reached) {
		t.Errorf("a struct's change: byName = %v, %v, %v; want every object, later", got, later, err)
	}
}

// unifiedDiff is diff -u of two files of dir, named as given.
func unifiedDiff(t *testing.T, dir, a, b string) string {
	t.Helper()
	cmd := exec.Command("diff", "-u", a, b)
	cmd.Dir = dir
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("diff -u %s %s: %v", a, b, err)
	}
	return string(out)
}

// changedHeaders writes each file's old text into tree and returns the
// patch, resolved against tree, that turns each into its new text.
// TestByNameStandIns: a header the patch does not change that names a
// changed function only in its own macros and inlines stands for it with
// them (asm/elf.h's ELF_PLATFORM, of utsname()): its includers are kept
// only where they name those, through as many headers as it takes; a
// header that names it elsewhere (a variable's initializer) keeps all
// its includers. A header's name in an #include names nothing.
func TestByNameStandIns(t *testing.T) {
	tree := t.TempDir()
	writeFiles(t, tree, map[string]string{
		"include/linux/elf.h":                        "#include <linux/r.h>\n#define PLATFORM (rcu_momentary_dyntick_idle())\nstatic inline void el(void) { rcu_momentary_dyntick_idle(); }\nstruct e;\n",
		"include/linux/chain.h":                      "#include <linux/elf.h>\n#define CHAIN(x) (PLATFORM + (x))\n",
		"include/linux/var.h":                        "#include <linux/r.h>\nstatic void (*hook)(void) = rcu_momentary_dyntick_idle;\n",
		"include/linux/rcu_momentary_dyntick_idle.h": "",
		"kernel/plat.c":                              "#include <linux/elf.h>\nint f(void) { return PLATFORM; }\n",
		"kernel/el.c":                                "#include <linux/elf.h>\nvoid g(void) { el(); }\n",
		"kernel/elf.c":                               "#include <linux/elf.h>\n#include <linux/rcu_momentary_dyntick_idle.h>\nint h;\n",
		"kernel/chain.c":                             "#include <linux/chain.h>\nint i(void) { return CHAIN(1); }\n",
		"kernel/var.c":                               "#include <linux/var.h>\nint j;\n",
	})
	renamed := strings.Replace(namesHeader, "void rcu_momentary_dyntick_idle(void);", "void rcu_momentary_eqs(void);", 1)
	p := changedHeaders(t, tree, map[string][2]string{"include/linux/r.h": {namesHeader, renamed}})
	got, log := byNameOf(t, tree, p, []string{"kernel/chain.o", "kernel/el.o", "kernel/elf.o", "kernel/plat.o", "kernel/var.o"})
	if want := []string{"kernel/chain.o", "kernel/el.o", "kernel/plat.o", "kernel/var.o"}; !slices.Equal(got, want) {
		t.Errorf("byName = %v; want %v\n%s", got, want, log)
	}
	for _, w := range []string{"include/linux/elf.h names what changes only in PLATFORM, el:", "include/linux/chain.h names what changes only in CHAIN:"} {
		if !strings.Contains(log, w) {
			t.Errorf("the log lacks %q:\n%s", w, log)
		}
	}
}

// TestByNameFresh: a function a header adds, which nothing declared
// before, is meant only by a block-scope extern declaration: elsewhere
// its name is a parameter's or a local's (ipv6_stubs.h's dst_dev). If
// another file of the tree declares it, it counts wherever it is named.
func TestByNameFresh(t *testing.T) {
	for _, tc := range []struct {
		name      string
		elsewhere string // another header's text
		want      []string
		log       string
	}{
		{name: "new", want: []string{"kernel/ext.o"}, log: "fresh_fn: new, declared nowhere before the patch"},
		{name: "declared elsewhere", elsewhere: "int fresh_fn(void);\n", want: []string{"kernel/ext.o", "kernel/param.o"}},
		{name: "a macro elsewhere", elsewhere: "#define fresh_fn() 0\n", want: []string{"kernel/ext.o", "kernel/param.o"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree := t.TempDir()
			writeFiles(t, tree, map[string]string{
				"include/linux/other.h": tc.elsewhere,
				"kernel/param.c":        "#include <linux/r.h>\nint g(int fresh_fn) { return fresh_fn; }\n",
				"kernel/ext.c":          "#include <linux/r.h>\nint h(void) { extern int fresh_fn(void); return fresh_fn(); }\n",
				"kernel/plain.c":        "#include <linux/r.h>\nint i;\n",
			})
			added := strings.Replace(namesHeader, "void rcu_barrier(void);", "void rcu_barrier(void);\nstatic inline int fresh_fn(void) { return 1; }", 1)
			p := changedHeaders(t, tree, map[string][2]string{"include/linux/r.h": {namesHeader, added}})
			got, log := byNameOf(t, tree, p, []string{"kernel/ext.o", "kernel/param.o", "kernel/plain.o"})
			if !slices.Equal(got, tc.want) {
				t.Errorf("byName = %v; want %v\n%s", got, tc.want, log)
			}
			if !strings.Contains(log, tc.log) {
				t.Errorf("the log lacks %q:\n%s", tc.log, log)
			}
		})
	}
}

// TestByNameIncludedFiles: a file of another kind that a .c file
// includes (wanxl.c's wanxlfw.inc) is read for names too.
func TestByNameIncludedFiles(t *testing.T) {
	tree := t.TempDir()
	writeFiles(t, tree, map[string]string{
		"drivers/net/table.inc": "static void (*const tbl[])(void) = { rcu_momentary_dyntick_idle };\n",
		"drivers/net/user.c":    "#include <linux/r.h>\n#include \"table.inc\"\nvoid u(void) { tbl[0](); }\n",
		"drivers/net/plain.c":   "#include <linux/r.h>\nint p;\n",
	})
	renamed := strings.Replace(namesHeader, "void rcu_momentary_dyntick_idle(void);", "void rcu_momentary_eqs(void);", 1)
	p := changedHeaders(t, tree, map[string][2]string{"include/linux/r.h": {namesHeader, renamed}})
	got, log := byNameOf(t, tree, p, []string{"drivers/net/plain.o", "drivers/net/user.o"})
	if want := []string{"drivers/net/user.o"}; !slices.Equal(got, want) {
		t.Errorf("byName = %v; want %v\n%s", got, want, log)
	}
}

// byNameOf runs byName over tree, where the patch p changes
// include/linux/r.h, which reaches the objects reached: what it keeps, and
// its log.
func byNameOf(t *testing.T, tree string, p *srcpatch.Patch, reached []string) ([]string, string) {
	t.Helper()
	idx, err := indexIncludes(tree)
	if err != nil {
		t.Fatal(err)
	}
	includers := func(f string) ([]string, error) { return idx.includers(f, "x86"), nil }
	var log strings.Builder
	got, _, err := byName(tree, p, map[string][]string{"include/linux/r.h": reached}, reached, includers, nil, &log)
	if err != nil {
		t.Fatal(err)
	}
	return got, log.String()
}

func changedHeaders(t *testing.T, tree string, texts map[string][2]string) *srcpatch.Patch {
	t.Helper()
	dir := t.TempDir()
	var diff string
	for _, rel := range slices.Sorted(maps.Keys(texts)) {
		for i, side := range []string{"a", "b"} {
			writeFiles(t, filepath.Join(dir, side), map[string]string{rel: texts[rel][i]})
		}
		writeFiles(t, tree, map[string]string{rel: texts[rel][0]})
		diff += unifiedDiff(t, dir, "a/"+rel, "b/"+rel)
	}
	p, err := srcpatch.Parse(strings.NewReader(diff))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Resolve(tree); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPastedPieces: a macro that pastes a piece of a name makes it where
// the rest of the name is an argument of it, or of a macro that passes it
// on (not of another macro); a macro that pastes a parameter makes no
// piece of its own.
func TestPastedPieces(t *testing.T) {
	tree := t.TempDir()
	files := map[string]string{
		"include/net/dbg.h":     "#define netif_level(level, dev) netdev_##level(dev)\n#define netif_any(l, d) netif_level(l, d)\n",
		"drivers/net/wrapped.c": "void w(void *d) { netif_any(WARN_ONCE, d); }\n",
		"drivers/net/plain.c":   "void p(void) { WARN_ONCE(1, \"x\"); }\n",
		"drivers/net/other.c":   "void o(void) { DO_ONCE_LITE_IF(c, WARN_ONCE, 1); }\n",
		"arch/x86/asm.h":        "#define __ASM_REG(reg) __ASM_SEL_RAW(e##reg, r##reg)\n",
		"drivers/net/warns.c":   "void f(void *d) { netif_level(WARN_ONCE, d); }\n",
		"drivers/net/warn.c":    "void g(void *d) { netif_level(warn, d); }\n",
		"drivers/net/direct.c":  "void h(void *d) { netdev_WARN_ONCE(d); }\n",
		"drivers/net/regular.c": "int reg;\n",
	}
	writeFiles(t, tree, files)
	set := newNameSet()
	set.add("netdev_WARN_ONCE")
	set.add("reg_state")
	found, err := filesNaming(tree, set, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"drivers/net/direct.c", "drivers/net/warns.c", "drivers/net/wrapped.c"}
	if got := slices.Sorted(maps.Keys(found)); !slices.Equal(got, want) {
		t.Errorf("filesNaming = %v, want %v", got, want)
	}
	// The rest counts only with the file that pastes the piece.
	if h := found["drivers/net/warns.c"]; len(h) != 1 || h[0] != (hit{"netdev_WARN_ONCE", "include/net/dbg.h"}) {
		t.Errorf("warns.c: %+v, want netdev_WARN_ONCE through include/net/dbg.h", h)
	}
}

func TestPasteMakes(t *testing.T) {
	lit := func(s string) cdecl.Part { return cdecl.Part{Text: s, Literal: true} }
	arg := func(s string) cdecl.Part { return cdecl.Part{Text: s} }
	for _, tc := range []struct {
		parts []cdecl.Part
		name  string
		rest  string
		ok    bool
	}{
		{[]cdecl.Part{lit("netdev_"), arg("level")}, "netdev_WARN", "WARN", true},
		{[]cdecl.Part{lit("reg"), arg("name"), lit("_BASE_IDX")}, "reg_state", "", false},
		{[]cdecl.Part{lit("reg"), arg("name"), lit("_BASE_IDX")}, "regFOO_BASE_IDX", "FOO", true},
		{[]cdecl.Part{lit("rcu_momentary_"), lit("eqs")}, "rcu_momentary_eqs", "", true},
		{[]cdecl.Part{lit("rcu_momentary_"), lit("eqs")}, "rcu_momentary_eqs2", "", false},
		{[]cdecl.Part{arg("x"), lit("_mid_"), arg("y")}, "a_mid_b", "a_mid_b", true},
		{[]cdecl.Part{arg("x"), lit("_mid_"), arg("y")}, "ab", "", false},
		{[]cdecl.Part{lit("pre"), arg("x")}, "pre", "", true},
		{[]cdecl.Part{lit("abc"), arg("x"), lit("bcd")}, "abcd", "", false},
	} {
		rest, ok := pasteMakes(tc.parts, tc.name)
		if ok != tc.ok || ok && rest != tc.rest {
			t.Errorf("pasteMakes(%v, %q) = %q, %v; want %q, %v", tc.parts, tc.name, rest, ok, tc.rest, tc.ok)
		}
	}
}

// writeFiles writes files (path relative to root -> text) under root.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, text := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
