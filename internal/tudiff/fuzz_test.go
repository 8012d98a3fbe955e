package tudiff

import "testing"

// FuzzParse: any input either parses or fails with ErrSyntax, never
// panics; a unit compared with itself has no change.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"# 1 \"x.c\"\nstatic inline int a(int x) { return x; }\nint f(void) { return a(1); }\n",
		"typedef struct { int a; } t;\nstruct s { union { int *p; int *q; }; long n; } __attribute__((packed));\n",
		"#pragma pack(push, 1)\nenum { A = 1 << 2, B };\nextern int (*fp)(int) __asm__(\"x\");\n#line\n",
		"int x = sizeof(struct q { int a; }), y[3] = { [0] = 1 };\nasm(\".globl q\");\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		u, err := Parse(src)
		if err != nil {
			return
		}
		res, err := Compare(u, u, Options{})
		if err != nil || res.Affected || res.Changed != 0 {
			t.Fatalf("a unit against itself: %+v, %v", res, err)
		}
		for _, d := range u.Decls {
			for _, n := range d.defines {
				_ = u.Extract(n)
			}
		}
	})
}
