package create

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

// TestLayoutChanges compiles a pre and post object with gcc -g (the
// kernel's objects have DWARF) and compares the layouts of their types.
func TestLayoutChanges(t *testing.T) {
	compile := compileDebug
	const fn = "\nint get(struct s *p) { return p->b; }\n"
	pre := compile(t, "typedef int my_int;\nstruct s { int a; my_int b; struct { short c; short d; } in; };\nunion u { int x; long y; };\nint f(union u *p) { return p->x; }"+fn)
	for _, c := range []struct {
		name, post string
		want       string // the refused type and what moved; "" for none
	}{
		{"same", "typedef int my_int;\nstruct s { int a; my_int b; struct { short c; short d; } in; };\nunion u { int x; long y; };\nint f(union u *p) { return p->x; }" + fn, ""},
		// Renamed members, another typedef and signedness read the
		// same bytes.
		{"renamed", "struct s { int first; unsigned int b; struct { short c2; short d; } in; };\nunion u { int x; long y; };\nint f(union u *p) { return p->x; }" + fn, ""},
		// Two members of one size swapped: the same shape, a moves.
		{"swapped", "typedef int my_int;\nstruct s { my_int b; int a; struct { short c; short d; } in; };\nunion u { int x; long y; };\nint f(union u *p) { return p->x; }" + fn, "struct s: a@0 scalar(4) becomes a@4"},
		{"member added", "typedef int my_int;\nstruct s { int a; int added; my_int b; struct { short c; short d; } in; };\nunion u { int x; long y; };\nint f(union u *p) { return p->x; }" + fn, "struct s: b@4"},
		{"anonymous member", "typedef int my_int;\nstruct s { int a; my_int b; struct { int c; short d; } in; };\nunion u { int x; long y; };\nint f(union u *p) { return p->x; }" + fn, "struct s: size 12"},
		{"union grows", "typedef int my_int;\nstruct s { int a; my_int b; struct { short c; short d; } in; };\nunion u { int x; long y; char z[16]; };\nint f(union u *p) { return p->x; }" + fn, "union u: size 8"},
		// A member made the first of an anonymous union of its size
		// (6.1.190's struct dst_entry): every user reads the same.
		{"member into union", "typedef int my_int;\nstruct s { union { int a; unsigned int a_rcu; }; my_int b; struct { short c; short d; } in; };\nunion u { int x; long y; };\nint f(union u *p) { return p->x; }" + fn, ""},
		// Not the first: a positional initializer would fill the other.
		{"member second in union", "typedef int my_int;\nstruct s { union { unsigned int a_rcu; int a; }; my_int b; struct { short c; short d; } in; };\nunion u { int x; long y; };\nint f(union u *p) { return p->x; }" + fn, "struct s: "},
		// A type only the new object has: nothing running has it.
		{"new type", "typedef int my_int;\nstruct s { int a; my_int b; struct { short c; short d; } in; };\nunion u { int x; long y; };\nstruct n { long q; };\nint f(union u *p) { return p->x; }\nlong g(struct n *p) { return p->q; }" + fn, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			refs, ok, err := typeChanges(pre, compile(t, c.post))
			if err != nil || !ok {
				t.Fatalf("typeChanges: %v, %v", ok, err)
			}
			if c.want == "" {
				if len(refs) > 0 {
					t.Fatalf("refused %v, want no refusal", refs)
				}
				return
			}
			typ, moved, _ := strings.Cut(c.want, ": ")
			if len(refs) != 1 || refs[0].Symbol != typ || !strings.Contains(refs[0].Reason, moved) {
				t.Fatalf("refusals %v, want one of %s naming %q", refs, typ, moved)
			}
			if !errors.Is(refs[0], elfdiff.ErrStructLayout) {
				t.Errorf("refusal %v does not unwrap to ErrStructLayout", refs[0])
			}
		})
	}
}

// TestLayoutChangesTypedefAnonymous: a structure with no tag, named only
// by a typedef (atomic_t's kind), is compared by the typedef's name, and
// laid out where a member has it; two members of one size swapped inside
// it move.
func TestLayoutChangesTypedefAnonymous(t *testing.T) {
	compile := compileDebug
	const use = "int g(pair_t *p) { return p->d; }\n"
	pre := compile(t, "typedef struct { short c; short d; } pair_t;\n"+use)
	holder := compile(t, "typedef struct { short c; short d; } pair_t;\nstruct s { pair_t pr[2]; };\nint f(struct s *p) { return p->pr[1].d; }\n")
	for _, c := range []struct {
		name, pre, post string
		want            []string // the refused types
	}{
		{"same", pre, "typedef struct { short c; short d; } pair_t;\n" + use, nil},
		{"swapped", pre, "typedef struct { short d; short c; } pair_t;\n" + use, []string{"typedef pair_t"}},
		// Names inside a member's own structure are the member's:
		// not the holder's members of the same name.
		{"renamed beside a namesake", compile(t, "typedef struct { unsigned val; } kuid_t;\nstruct foo { kuid_t u; unsigned val; };\nint f(struct foo *p) { return p->val; }\n"), "typedef struct { unsigned val; } kuid_t;\nstruct foo { kuid_t u; unsigned value; };\nint f(struct foo *p) { return p->value; }\n", nil},
		{"swapped beside namesakes", compile(t, "typedef struct { unsigned val; } kuid_t;\ntypedef struct { int counter; } atomic_t;\nstruct foo { unsigned val; int counter; kuid_t u; atomic_t c; };\nint f(struct foo *p) { return p->val; }\n"), "typedef struct { unsigned val; } kuid_t;\ntypedef struct { int counter; } atomic_t;\nstruct foo { int counter; unsigned val; kuid_t u; atomic_t c; };\nint f(struct foo *p) { return p->val; }\n", []string{"struct foo"}},
		// An alignment asked for is the anonymous structure's.
		{"aligned", pre, "typedef struct __attribute__((aligned(4))) { short c; short d; } pair_t;\n" + use, []string{"typedef pair_t"}},
		{"swapped in a member array", holder, "typedef struct { short d; short c; } pair_t;\nstruct s { pair_t pr[2]; };\nint f(struct s *p) { return p->pr[1].d; }\n", []string{"struct s", "typedef pair_t"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			refs, ok, err := typeChanges(c.pre, compile(t, c.post))
			if err != nil || !ok {
				t.Fatalf("typeChanges: %v, %v", ok, err)
			}
			var got []string
			for _, r := range refs {
				got = append(got, r.Symbol)
			}
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Fatalf("refused %v, want %v", refs, c.want)
			}
		})
	}
}

// compileDebug compiles C source with gcc -g (the kernel's objects have
// DWARF) and returns the object.
// TestLayoutChangesBitFieldBytes: 6.1.190's struct net_device, whose
// reg_state, an 8-bit field of an enumeration without negative values,
// becomes a u8 of the same byte: the running kernel's objects hold the
// same value where new code reads it, and it is no refusal. A signed
// byte, another byte, or a field of 4 bits is.
func TestLayoutChangesBitFieldBytes(t *testing.T) {
	const fn = "\nint g(struct nd *p) { return p->reg_state + p->dis; }\n"
	pre := compileDebug(t, "enum st { S0 = 0, S1, S2 };\nstruct nd { int mtu; enum st reg_state:8; char dis; short x; };"+fn)
	for _, c := range []struct {
		name, post string
		refused    bool
	}{
		{"u8", "enum st { S0 = 0, S1, S2 };\nstruct nd { int mtu; unsigned char reg_state; char dis; short x; };" + fn, false},
		{"signed char", "struct nd { int mtu; signed char reg_state; char dis; short x; };" + fn, true},
		{"4 bits", "enum st { S0 = 0, S1, S2 };\nstruct nd { int mtu; enum st reg_state:4; char dis; short x; };" + fn, true},
		{"another byte", "struct nd { int mtu; char pad; unsigned char reg_state; short x; };\nint g(struct nd *p) { return p->reg_state + p->pad; }\n", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			refs, ok, err := typeChanges(pre, compileDebug(t, c.post))
			if err != nil || !ok {
				t.Fatalf("typeChanges: %v, %v", ok, err)
			}
			if got := len(refs) > 0; got != c.refused {
				t.Errorf("refusals %v, want refused: %v", refs, c.refused)
			}
		})
	}
}

func compileDebug(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	c := filepath.Join(dir, "x.c")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	o := filepath.Join(dir, "x.o")
	if out, err := exec.Command("gcc", "-g", "-O2", "-c", "-o", o, c).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	return o
}
