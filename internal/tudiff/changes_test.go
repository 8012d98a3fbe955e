package tudiff

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/cdecl"
)

// TestChangesIn reads each change of compareCases as a header's, and
// checks what ChangesIn says of it against the compiler: where it gives
// names (no Why) and the code names none of them, the code compiles the
// same.
func TestChangesIn(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
	inHeader := func(f string) bool { return strings.HasSuffix(f, "/h.h") }
	narrowed := 0
	for _, tc := range compareCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pre, preObj := preprocessAndCompile(t, dir, "pre", tc.before, tc.c)
			post, postObj := preprocessAndCompile(t, dir, "post", tc.after, tc.c)
			ch, err := ChangesIn(pre, post, inHeader, Options{Layout: func(string) (Layout, error) { return tc.layout, nil }})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", ch)
			if ch.Why != "" {
				return
			}
			if directives(tc.before) != directives(tc.after) {
				// A macro's change, which a unit does not show:
				// the header's text tells it (cdecl).
				return
			}
			if named := namesAny(tc.c, ch.Names, ch.Members); named != "" {
				t.Logf("the code names %s", named)
				return
			}
			narrowed++
			if !sameText(t, preObj, postObj) {
				t.Errorf("the code names none of %v, yet it compiles otherwise", ch.Names)
			}
		})
	}
	if narrowed < 5 {
		t.Errorf("%d cases narrowed: the test checks too little", narrowed)
	}
	t.Logf("%d of %d cases narrowed by name, each compiled the same", narrowed, len(compareCases))
}

// directives returns the preprocessor lines of src.
func directives(src string) string {
	var out []string
	for _, l := range strings.Split(src, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// namesAny returns the first of names that the C source names, a member's
// name only where a member can be named.
func namesAny(src string, names, members []string) string {
	for _, tk := range cdecl.Tokens([]byte(src)) {
		name := strings.TrimPrefix(tk.Name, "__builtin_")
		if !slices.Contains(names, name) {
			continue
		}
		if slices.Contains(members, tk.Name) && !MayNameMember(tk.Prev, tk.Directive) {
			continue
		}
		return name
	}
	return ""
}

// TestChangesInNestedEnum: netdevice.h in 6.1.190 (struct net_device's
// reg_state) as ChangesIn reads it.
func TestChangesInNestedEnum(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
	dir := t.TempDir()
	before := "struct nd { int mtu; enum { R_UN = 0, R_REG } reg_state:8; char dis; };\nstatic inline int nd_unreg(struct nd *d) { return d->reg_state == R_UN; }\n"
	after := "enum nd_state { R_UN = 0, R_REG };\nstruct nd { int mtu; unsigned char reg_state; char dis; };\nstatic inline int nd_unreg(struct nd *d) { return d->reg_state == R_UN; }\n"
	pre, _ := preprocessAndCompile(t, dir, "pre", before, "int x;\n")
	post, _ := preprocessAndCompile(t, dir, "post", after, "int x;\n")
	inHeader := func(f string) bool { return strings.HasSuffix(f, "/h.h") }
	ch, err := ChangesIn(pre, post, inHeader, Options{Layout: func(agg string) (Layout, error) {
		if agg != "struct nd" {
			t.Errorf("Layout(%q)", agg)
		}
		return Layout{Same: true, Retyped: []string{"reg_state"}}, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if ch.Why != "" || strings.Join(ch.Names, " ") != "nd_state nd_unreg reg_state" || strings.Join(ch.Members, " ") != "reg_state" ||
		!slices.Contains(ch.Defined, "nd") || !slices.Contains(ch.Defined, "nd_state") {
		t.Errorf("ChangesIn = %+v", ch)
	}
	// The constants keep their values: they are not names, but still
	// defined. With another value, they are.
	if !slices.Contains(ch.Defined, "R_REG") || !slices.Contains(ch.Defined, "R_UN") {
		t.Errorf("Defined = %v, want R_REG and R_UN", ch.Defined)
	}
	renumbered := strings.Replace(after, "R_UN = 0", "R_UN = 1", 1)
	post2, _ := preprocessAndCompile(t, dir, "post2", renumbered, "int x;\n")
	ch, err = ChangesIn(pre, post2, inHeader, Options{Layout: func(string) (Layout, error) { return Layout{Same: true, Retyped: []string{"reg_state"}}, nil }})
	if err != nil || !slices.Contains(ch.Names, "R_REG") || !slices.Contains(ch.Names, "R_UN") {
		t.Errorf("renumbered: ChangesIn = %+v, %v; want R_REG and R_UN named", ch, err)
	}
	// Laid out otherwise: why, naming the type.
	ch, err = ChangesIn(pre, post, inHeader, Options{Layout: func(string) (Layout, error) { return Layout{}, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ch.Why, "struct nd changes its layout") {
		t.Errorf("Why = %q, want the layout of struct nd", ch.Why)
	}
	// Another file's changes are not read.
	ch, err = ChangesIn(pre, post, func(string) bool { return false }, Options{})
	if err != nil || ch.Why != "" || len(ch.Names) != 0 {
		t.Errorf("ChangesIn of no file = %+v, %v", ch, err)
	}
}
