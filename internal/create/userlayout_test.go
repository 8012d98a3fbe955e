package create

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSameForUsers compiles a structure before and after a change and
// asks whether code using it compiles the same.
func TestSameForUsers(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
	// retyped: the members compareForUsers finds of another type that
	// holds the same bits, "-" if it finds the layouts differ.
	cases := []struct {
		name, before, after string
		want                bool
		retyped             string
	}{
		{"member-into-union", "struct s { void *dev; long n; };", "struct s { union { void *dev; void *dev_rcu; }; long n; };", true, ""},
		{"member-second-in-union", "struct s { void *dev; long n; };", "struct s { union { void *dev_rcu; void *dev; }; long n; };", false, "-"},
		{"union-larger", "struct s { int dev; long n; };", "struct s { union { int dev; long wide; }; long n; };", false, "-"},
		{"member-added-in-padding", "struct s { int a; long n; };", "struct s { int a; int b; long n; };", false, "-"},
		{"signedness", "struct s { int a; };", "struct s { unsigned int a; };", false, "-"},
		{"long-long", "struct s { long a; };", "struct s { long long a; };", false, "a"},
		{"typedef-same-type", "typedef int num; struct s { int a; };", "typedef int num; struct s { num a; };", true, ""},
		{"renamed", "struct s { int a; };", "struct s { int b; };", false, "-"},
		{"volatile", "struct s { int a; };", "struct s { volatile int a; };", false, "-"},
		{"aligned", "struct s { int a; };", "struct s { int a; } __attribute__((aligned(16)));", false, "-"},
		{"packed-without-padding", "struct s { int a; int b; };", "struct s { int a; int b; } __attribute__((packed));", false, "-"},
		{"union-sibling-more-aligned", "struct s { char a[8]; };", "struct s { union { char a[8]; unsigned long a8; }; };", false, "-"},
		{"bitfield-moved", "struct s { unsigned a:4, b:4; };", "struct s { unsigned a:4, :2, b:4; };", false, "-"},
		{"function-pointer-signature", "struct t; struct s { int (*f)(struct t *); long n; };", "struct t; struct s { int (*f)(struct t *, int); long n; };", false, "f"},
		{"pointee-const", "struct s { char *p; };", "struct s { const char *p; };", false, "p"},
		{"const-member", "struct s { int a; };", "struct s { const int a; };", false, "a"},
		{"enum-to-int", "enum e { A }; struct s { enum e a; };", "struct s { unsigned int a; };", false, "-"},
		{"in-anonymous-union", "struct s { union { int (*f)(void); long x; }; };", "struct s { union { int (*f)(int); long x; }; };", false, "f"},
		{"int-to-float", "struct s { int a; };", "struct s { float a; };", false, "-"},
		{"char-to-bool", "struct s { unsigned char a; };", "struct s { _Bool a; };", false, "-"},
		// netdevice.h in 6.1.190: reg_state's bit field of an
		// enumeration becomes a u8, the same byte.
		{"enum-bitfield-to-byte", "struct s { void *p; enum { A, B } r:8; char d; };", "struct s { void *p; unsigned char r; char d; };", false, "r"},
		{"unsigned-bitfield-to-short", "struct s { int a; unsigned r:16; };", "struct s { int a; unsigned short r; };", false, "r"},
		{"signed-bitfield-to-byte", "struct s { int a; int r:8; };", "struct s { int a; unsigned char r; };", false, "-"},
		{"negative-enum-bitfield-to-byte", "struct s { int a; enum { M = -1, N } r:8; };", "struct s { int a; unsigned char r; };", false, "-"},
		{"bitfield-off-byte-to-byte", "struct s { unsigned a:4, r:8; };", "struct s { unsigned char a; unsigned char r; };", false, "-"},
		{"narrow-bitfield-to-byte", "struct s { int a; unsigned r:7; };", "struct s { int a; unsigned char r; };", false, "-"},
		{"pointer-to-long", "struct s { void *a; };", "struct s { unsigned long a; };", false, "-"},
	}
	for _, dw := range []string{"-gdwarf-4", "-gdwarf-5"} {
		for _, tc := range cases {
			t.Run(dw+"/"+tc.name, func(t *testing.T) { checkSameForUsers(t, dw, tc.before, tc.after, tc.want, tc.retyped) })
		}
	}
}

func checkSameForUsers(t *testing.T, dwarfFlag, before, after string, want bool, wantRetyped string) {
	t.Helper()
	dir := t.TempDir()
	var l [2]*userLayout
	for i, src := range []string{before, after} {
		c := filepath.Join(dir, "p.c")
		o := filepath.Join(dir, "p.o")
		// The probe as scan.go writes it: the type and its alignment.
		if err := os.WriteFile(c, []byte(src+"\nstruct s probe;\nchar __ksplice_layout_align[_Alignof(struct s)];\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("gcc", dwarfFlag, "-O0", "-c", "-o", o, c).CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var err error
		if l[i], err = readUserLayout(o, "struct s"); err != nil {
			t.Fatal(err)
		}
	}
	if got := sameForUsers(l[0], l[1]); got != want {
		t.Errorf("sameForUsers = %v, want %v (%+v / %+v)", got, want, l[0], l[1])
	}
	retyped, same := compareForUsers(l[0], l[1])
	got := "-"
	if same {
		got = strings.Join(retyped, " ")
	}
	if got != wantRetyped {
		t.Errorf("compareForUsers = %q, want %q", got, wantRetyped)
	}
}
