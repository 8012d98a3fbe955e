package create

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestSameForUsers compiles a structure before and after a change and
// asks whether code using it compiles the same.
func TestSameForUsers(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
	cases := []struct {
		name, before, after string
		want                bool
	}{
		{"member-into-union", "struct s { void *dev; long n; };", "struct s { union { void *dev; void *dev_rcu; }; long n; };", true},
		{"member-second-in-union", "struct s { void *dev; long n; };", "struct s { union { void *dev_rcu; void *dev; }; long n; };", false},
		{"union-larger", "struct s { int dev; long n; };", "struct s { union { int dev; long wide; }; long n; };", false},
		{"member-added-in-padding", "struct s { int a; long n; };", "struct s { int a; int b; long n; };", false},
		{"signedness", "struct s { int a; };", "struct s { unsigned int a; };", false},
		{"typedef-same-type", "typedef int num; struct s { int a; };", "typedef int num; struct s { num a; };", true},
		{"renamed", "struct s { int a; };", "struct s { int b; };", false},
		{"volatile", "struct s { int a; };", "struct s { volatile int a; };", false},
		{"aligned", "struct s { int a; };", "struct s { int a; } __attribute__((aligned(16)));", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var l [2]*userLayout
			for i, src := range []string{tc.before, tc.after} {
				c := filepath.Join(dir, "p.c")
				o := filepath.Join(dir, "p.o")
				if err := os.WriteFile(c, []byte(src+"\nstruct s probe;\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				if out, err := exec.Command("gcc", "-g", "-O0", "-c", "-o", o, c).CombinedOutput(); err != nil {
					t.Fatalf("%v\n%s", err, out)
				}
				var err error
				if l[i], err = readUserLayout(o, "struct s"); err != nil {
					t.Fatal(err)
				}
			}
			if got := sameForUsers(l[0], l[1]); got != tc.want {
				t.Errorf("sameForUsers = %v, want %v (%+v / %+v)", got, tc.want, l[0], l[1])
			}
		})
	}
}
