package tudiff

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A case is a header before and after a change and a .c file that
// includes it. The test preprocesses and compiles the unit both ways:
// Compare must say affected where it expects, and wherever Compare says
// unaffected the compiled code must be the same (the one way it must
// never err).
type compareCase struct {
	name         string
	before       string
	after        string
	c            string
	layout       Layout // what the Layout callback answers
	wantAffect   bool
	wantInReason string
}

var compareCases = []compareCase{
	{
		name:   "new-inline-unused",
		before: "static inline int a(int x) { return x + 1; }\n",
		after:  "static inline int a(int x) { return x + 1; }\nstatic inline int b(int x) { return x * 3; }\n",
		c:      "int f(int x) { return a(x); }\n",
	},
	{
		name:         "inline-changed-used",
		before:       "static inline int a(int x) { return x + 1; }\n",
		after:        "static inline int a(int x) { return x + 2; }\n",
		c:            "int f(int x) { return a(x); }\n",
		wantAffect:   true,
		wantInReason: "a changes",
	},
	{
		name:         "inline-changed-used-through-another",
		before:       "static inline int a(int x) { return x + 1; }\nstatic inline int b(int x) { return a(x) * 2; }\n",
		after:        "static inline int a(int x) { return x + 2; }\nstatic inline int b(int x) { return a(x) * 2; }\n",
		c:            "int f(int x) { return b(x); }\n",
		wantAffect:   true,
		wantInReason: "-> b)",
	},
	{
		name:   "inline-changed-used-only-by-unused-inline",
		before: "static inline int a(int x) { return x + 1; }\nstatic inline int b(int x) { return a(x) * 2; }\nstatic inline int c(int x) { return x; }\n",
		after:  "static inline int a(int x) { return x + 2; }\nstatic inline int b(int x) { return a(x) * 2; }\nstatic inline int c(int x) { return x; }\n",
		c:      "int f(int x) { return c(x); }\n",
	},
	{
		name:       "macro-changed-used",
		before:     "#define K 3\n",
		after:      "#define K 4\n",
		c:          "int f(int x) { return x * K; }\n",
		wantAffect: true,
	},
	{
		name:   "macro-changed-unused",
		before: "#define K 3\n#define L 5\n",
		after:  "#define K 4\n#define L 5\n",
		c:      "int f(int x) { return x * L; }\n",
	},
	{
		name:       "macro-changed-used-by-used-inline",
		before:     "#define K 3\nstatic inline int a(int x) { return x * K; }\n",
		after:      "#define K 4\nstatic inline int a(int x) { return x * K; }\n",
		c:          "int f(int x) { return a(x); }\n",
		wantAffect: true,
	},
	{
		name:   "member-into-union-same-layout",
		before: "struct s { int *p; long n; };\n",
		after:  "struct s { union { int *p; int *q; }; long n; };\n",
		c:      "long f(struct s *s) { return *s->p + s->n; }\n",
		layout: Layout{Same: true},
	},
	{
		name:         "member-into-union-layout-said-different",
		before:       "struct s { int *p; long n; };\n",
		after:        "struct s { union { int *p; int *q; }; long n; };\n",
		c:            "long f(struct s *s) { return *s->p + s->n; }\n",
		wantAffect:   true,
		wantInReason: "struct s changes its layout",
	},
	{
		name:       "member-added",
		before:     "struct s { int a; long n; };\n",
		after:      "struct s { int a; long m; long n; };\n",
		c:          "long f(struct s *s) { return s->n; }\n",
		wantAffect: true,
	},
	{
		name:   "struct-changed-unused",
		before: "struct s { int a; long n; };\nstruct t { int b; };\n",
		after:  "struct s { int a; long m; long n; };\nstruct t { int b; };\n",
		c:      "int f(struct t *t) { return t->b; }\n",
	},
	{
		name:       "typedef-changed-in-used-struct",
		before:     "typedef int num_t;\nstruct s { num_t a; num_t b; };\n",
		after:      "typedef long num_t;\nstruct s { num_t a; num_t b; };\n",
		c:          "long f(struct s *s) { return s->b; }\n",
		wantAffect: true,
	},
	{
		name:       "prototype-changed-used",
		before:     "extern int g(int);\n",
		after:      "extern int g(long);\n",
		c:          "int f(void) { return g(1L << 40); }\n",
		wantAffect: true,
	},
	{
		name:   "prototype-added-unused",
		before: "extern int g(int);\n",
		after:  "extern int g(int);\nextern int h(void *);\nstruct forward;\n",
		c:      "int f(void) { return g(1); }\n",
	},
	{
		name:       "enum-constant-inserted-used",
		before:     "enum e { A, B, C };\n",
		after:      "enum e { A, Z, B, C };\n",
		c:          "int f(void) { return C; }\n",
		wantAffect: true,
	},
	{
		// ChangesIn reads the values: the same ints under another
		// tag compile the same; a value that moves does not.
		name:       "enum-retagged-same-values-used",
		before:     "enum a { X = 0, Y, Z = 0x7, W };\n",
		after:      "enum b { X = 0, Y, Z = 7, W };\n",
		c:          "int f(int s) { switch (s) { case Y: return W; default: return X + Z; } }\n",
		wantAffect: true,
	},
	{
		// An attribute between a constant and its value: the values
		// are not read, and the constants count as changed.
		name:       "enum-constant-with-attribute-renumbered-used",
		before:     "enum a { X __attribute__((deprecated)) = 5, Y, };\n",
		after:      "enum b { X __attribute__((deprecated)) = 6, Y, };\n",
		c:          "int f(void) { return Y; }\n",
		wantAffect: true,
	},
	{
		name:       "enum-constant-renumbered-used",
		before:     "enum e { A = 1, B };\n",
		after:      "enum e { A = 2, B };\n",
		c:          "int f(void) { return B; }\n",
		wantAffect: true,
	},
	{
		name:       "enum-constant-from-an-expression-used",
		before:     "enum a { P = 1 << 2, Q };\n",
		after:      "enum b { P = 1 << 2, Q };\n",
		c:          "int f(void) { return Q; }\n",
		wantAffect: true,
	},
	{
		name:       "variable-added",
		before:     "extern int g(int);\n",
		after:      "extern int g(int);\nint counter;\n",
		c:          "int f(void) { return g(1); }\n",
		wantAffect: true,
	},
	{
		name:       "pack-region-moved",
		before:     "#pragma pack(push, 1)\n#pragma pack(pop)\nstruct s { char c; int i; };\n",
		after:      "#pragma pack(push, 1)\nstruct s { char c; int i; };\n#pragma pack(pop)\n",
		c:          "int f(struct s *s) { return s->i; }\n",
		wantAffect: true,
	},
	{
		name:       "line-moves-a-used-inline",
		before:     "extern void w(int);\nstatic inline void a(void) { w(__LINE__); }\n",
		after:      "extern void w(int);\n\nstatic inline void a(void) { w(__LINE__); }\n",
		c:          "void f(void) { a(); }\n",
		wantAffect: true,
	},
	{
		name:   "line-moves-an-unused-inline",
		before: "extern void w(int);\nstatic inline void a(void) { w(__LINE__); }\n",
		after:  "extern void w(int);\n\nstatic inline void a(void) { w(__LINE__); }\n",
		c:      "void f(void) { w(1); }\n",
	},
	{
		name:       "function-pointer-typedef-changed",
		before:     "typedef int (*op_t)(int);\nstruct ops { op_t op; };\n",
		after:      "typedef long (*op_t)(long);\nstruct ops { op_t op; };\n",
		c:          "long f(struct ops *o) { return o->op(1); }\n",
		wantAffect: true,
	},
	{
		name:   "attribute-and-asm-label-declarations",
		before: "extern int g(int) __attribute__((pure));\n",
		after:  "extern int g(int) __attribute__((pure));\nextern int h(int) __asm__(\"h2\") __attribute__((cold));\n",
		c:      "int f(void) { return g(2); }\n",
	},
	{
		name:       "asm-label-of-a-used-function-changed",
		before:     "extern int g(int) __asm__(\"g1\");\n",
		after:      "extern int g(int) __asm__(\"g2\");\n",
		c:          "int f(void) { return g(2); }\n",
		wantAffect: true,
	},
	// What review found (each once said unaffected wrongly, or could):
	{
		name:       "noreturn-redeclaration-added",
		before:     "__attribute__((format(printf, 1, 2))) extern void foo(const char *, ...);\nextern void bar(void);\n",
		after:      "__attribute__((format(printf, 1, 2))) extern void foo(const char *, ...);\nextern void bar(void);\nextern void foo(const char *, ...) __attribute__((noreturn));\n",
		c:          "void f(int x) { if (x) foo(\"a\"); bar(); }\n",
		wantAffect: true,
	},
	{
		name:       "memset-asm-label-used-by-builtin",
		before:     "typedef unsigned long size_t;\nextern void *memset(void *, int, size_t);\n",
		after:      "typedef unsigned long size_t;\nextern void *memset(void *, int, size_t) __asm__(\"__memset\");\n",
		c:          "void f(char *p, size_t n) { __builtin_memset(p, 0, n); }\n",
		wantAffect: true,
	},
	{
		name:       "block-scope-extern-meets-new-static",
		before:     "extern int k;\n",
		after:      "extern int k;\nstatic inline int g(void) { return 1; }\n",
		c:          "int f(void) { extern int g(void); return g(); }\n",
		wantAffect: true,
	},
	{
		name:         "struct-packed-same-offsets",
		before:       "struct s { int a; int b; };\n",
		after:        "struct s { int a; int b; } __attribute__((packed));\n",
		c:            "struct o { char c; struct s in; };\nint f(struct o *o) { return o->in.b; }\n",
		layout:       Layout{Same: true},
		wantAffect:   true,
		wantInReason: "attributes change",
	},
	{
		name:       "c99-extern-inline-changed",
		before:     "extern inline int h(int x) { return x + 1; }\n",
		after:      "extern inline int h(int x) { return x + 2; }\n",
		c:          "int f(int x) { return x; }\n",
		wantAffect: true,
	},
	{
		name:       "tag-defined-in-typeof",
		before:     "typedef __typeof__(struct q { int a; }) q_t;\n",
		after:      "typedef __typeof__(struct q { long a; }) q_t;\n",
		c:          "long f(struct q *q) { return q->a; }\n",
		wantAffect: true,
	},
	{
		// The signature of an ops structure's function pointer
		// changes (6.1.190's syn_recv_sock): code that never names
		// it compiles the same, a positional initializer included.
		name:   "member-retyped-unnamed",
		before: "struct sock;\nstruct ops { int (*recv)(struct sock *sk); unsigned long flags; void *priv; };\n",
		after:  "struct sock;\nstruct ops { int (*recv)(struct sock *sk, int why); unsigned long flags; void *priv; };\n",
		c:      "unsigned long f(struct ops *o) { return o->flags; }\nstatic int r(struct sock *sk) { return 0; }\nstruct ops pos = { r, 1, 0 };\n",
		layout: Layout{Same: true, Retyped: []string{"recv"}},
	},
	{
		name:         "member-retyped-called",
		before:       "struct sock;\nstruct ops { int (*recv)(struct sock *sk); unsigned long flags; void *priv; };\n",
		after:        "struct sock;\nstruct ops { int (*recv)(struct sock *sk, int why); unsigned long flags; void *priv; };\n",
		c:            "void *f(struct ops *o) { return (void *)o->recv; }\n",
		layout:       Layout{Same: true, Retyped: []string{"recv"}},
		wantAffect:   true,
		wantInReason: "its member recv",
	},
	{
		name:         "member-retyped-designated",
		before:       "struct sock;\nstruct ops { int (*recv)(struct sock *sk); unsigned long flags; void *priv; };\n",
		after:        "struct sock;\nstruct ops { int (*recv)(struct sock *sk, int why); unsigned long flags; void *priv; };\n",
		c:            "static int r(struct sock *sk) { return 1; }\nstruct ops o = { .recv = (void *)r, .flags = 2 };\n",
		layout:       Layout{Same: true, Retyped: []string{"recv"}},
		wantAffect:   true,
		wantInReason: "its member recv",
	},
	{
		// The declaration changes with the types the same for the
		// compiler (an attribute): still only where it is named.
		name:   "member-declaration-changed-unnamed",
		before: "typedef unsigned long ulong;\nstruct s { ulong (*get)(void); long n, m : 3; };\n",
		after:  "typedef unsigned long ulong;\nstruct s { ulong (*get)(void) __attribute__((deprecated)); long n, m : 3; };\n",
		c:      "long f(struct s *s) { return s->n; }\n",
		layout: Layout{Same: true},
	},
	{
		name:         "member-declaration-changed-named-through-inline",
		before:       "typedef unsigned long ulong;\nstruct s { ulong (*get)(void); long n, m : 3; };\nstatic inline ulong g(struct s *s) { return s->get(); }\n",
		after:        "typedef unsigned long ulong;\nstruct s { ulong (*get)(void) __attribute__((deprecated)); long n, m : 3; };\nstatic inline ulong g(struct s *s) { return s->get(); }\n",
		c:            "long f(struct s *s) { return g(s); }\n",
		layout:       Layout{Same: true},
		wantAffect:   true,
		wantInReason: "its member get",
	},
	{
		// netdevice.h in 6.1.190: an anonymous enum's constants move
		// out of struct net_device into an enum of their own, and its
		// member, a bit field of the enum, becomes a u8 of the same
		// byte. Code naming neither compiles the same.
		name:   "nested-enum-moves-out-unnamed",
		before: "struct nd { int mtu; enum { R_UN = 0, R_REG } reg_state:8; char dis; };\n",
		after:  "enum nd_state { R_UN = 0, R_REG };\nstruct nd { int mtu; unsigned char reg_state; char dis; };\n",
		c:      "int f(struct nd *d) { return d->mtu + d->dis; }\n",
		layout: Layout{Same: true, Retyped: []string{"reg_state"}},
	},
	{
		name:         "nested-enum-moves-out-member-named",
		before:       "struct nd { int mtu; enum { R_UN = 0, R_REG } reg_state:8; char dis; };\n",
		after:        "enum nd_state { R_UN = 0, R_REG };\nstruct nd { int mtu; unsigned char reg_state; char dis; };\n",
		c:            "int f(struct nd *d) { return d->reg_state; }\n",
		layout:       Layout{Same: true, Retyped: []string{"reg_state"}},
		wantAffect:   true,
		wantInReason: "its member reg_state",
	},
	{
		// The constants' own declaration changes, their values do
		// not: their users compile the same.
		name:   "nested-enum-moves-out-constant-named",
		before: "struct nd { int mtu; enum { R_UN = 0, R_REG } reg_state:8; char dis; };\n",
		after:  "enum nd_state { R_UN = 0, R_REG };\nstruct nd { int mtu; unsigned char reg_state; char dis; };\n",
		c:      "int f(int s) { return s == R_REG; }\n",
		layout: Layout{Same: true, Retyped: []string{"reg_state"}},
	},
	{
		// With another value, they change.
		name:         "nested-enum-moves-out-renumbered-constant-named",
		before:       "struct nd { int mtu; enum { R_UN = 0, R_REG } reg_state:8; char dis; };\n",
		after:        "enum nd_state { R_UN = 1, R_REG };\nstruct nd { int mtu; unsigned char reg_state; char dis; };\n",
		c:            "int f(int s) { return s == R_REG; }\n",
		layout:       Layout{Same: true, Retyped: []string{"reg_state"}},
		wantAffect:   true,
		wantInReason: "R_REG changes",
	},
	{
		// Laid out otherwise, named or not.
		name:         "member-retyped-wider",
		before:       "struct s { int a; int b; };\n",
		after:        "struct s { long a; int b; };\n",
		c:            "int f(struct s *s) { return s->b; }\n",
		wantAffect:   true,
		wantInReason: "changes its layout",
	},
}

func TestDeclarators(t *testing.T) {
	for src, want := range map[string]string{
		"int a;":                       "a",
		"unsigned int a : 3 , b : 5 ;": "a b",
		"struct sock * ( * syn_recv_sock ) ( const struct sock * sk , struct sk_buff * skb ) ;": "syn_recv_sock",
		"netdev_tx_t ( * xmit ) ( struct sk_buff * ) ;":                                         "xmit",
		"u32 x [ 4 ] , * y ;":                                 "x y",
		"struct { int q ; } in ;":                             "in",
		"int get ( void ) __attribute__ ( ( deprecated ) ) ;": "get",
		"_Atomic ( int ) n ;":                                 "n",
		"__typeof__ ( int ) t ;":                              "t",
		"int : 3 ;":                                           "",
		"char * ( * ( * f ) ( int ) ) [ 2 ] ;":                "f",
	} {
		u, err := Parse([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		var toks []token
		for _, d := range u.Decls {
			toks = append(toks, d.toks...)
		}
		if got := strings.Join(declarators(toks), " "); got != want {
			t.Errorf("declarators(%q) = %q, want %q", src, got, want)
		}
	}
}

func TestParseBareLine(t *testing.T) {
	for _, src := range []string{"#line\nint x;\n", "# line\nint y;\n", "#\n"} {
		if _, err := Parse([]byte(src)); err != nil {
			t.Errorf("%q: %v", src, err)
		}
	}
}

func TestCompare(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("no gcc")
	}
	for _, tc := range compareCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pre, preObj := preprocessAndCompile(t, dir, "pre", tc.before, tc.c)
			post, postObj := preprocessAndCompile(t, dir, "post", tc.after, tc.c)
			asked := ""
			res, err := Compare(pre, post, Options{Layout: func(agg string) (Layout, error) {
				asked = agg
				return tc.layout, nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%+v", res)
			same := sameText(t, preObj, postObj)
			if !res.Affected && !same {
				t.Fatalf("Compare says unaffected (%s), but the code differs", res.Reason)
			}
			if res.Affected != tc.wantAffect {
				t.Fatalf("Affected = %v (%s), want %v", res.Affected, res.Reason, tc.wantAffect)
			}
			if !strings.Contains(res.Reason, tc.wantInReason) {
				t.Errorf("reason %q does not say %q", res.Reason, tc.wantInReason)
			}
			if tc.layout.Same && asked == "" && !tc.wantAffect {
				t.Errorf("Layout never asked")
			}
			// Relaid names the type only when its layout is why.
			if byLayout := res.Affected && strings.Contains(res.Reason, "changes its layout"); (res.Relaid != "") != byLayout || byLayout && res.Relaid != asked {
				t.Errorf("Relaid = %q (asked %q), reason %q", res.Relaid, asked, res.Reason)
			}
		})
	}
}

func preprocessAndCompile(t *testing.T, dir, side, header, c string) (*Unit, string) {
	t.Helper()
	d := filepath.Join(dir, side)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(d, "h.h"), "#ifndef H\n#define H\n"+header+"#endif\n")
	write(t, filepath.Join(d, "u.c"), "#include \"h.h\"\n"+c)
	out, err := exec.Command("gcc", "-E", "-I", d, filepath.Join(d, "u.c")).Output()
	if err != nil {
		t.Fatalf("gcc -E: %v", err)
	}
	u, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	obj := filepath.Join(d, "u.o")
	if b, err := exec.Command("gcc", "-O2", "-ffunction-sections", "-fdata-sections", "-c", "-o", obj, filepath.Join(d, "u.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, b)
	}
	return u, obj
}

func write(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sameText reports whether two objects have the same code and data
// sections (names, bytes and relocations' symbols).
func sameText(t *testing.T, a, b string) bool {
	t.Helper()
	return bytes.Equal(sections(t, a), sections(t, b))
}

func sections(t *testing.T, name string) []byte {
	t.Helper()
	f, err := elf.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 && s.Type != elf.SHT_RELA {
			continue
		}
		if strings.HasPrefix(s.Name, ".rela.debug") || strings.HasPrefix(s.Name, ".rela.eh_frame") || s.Name == ".eh_frame" {
			continue
		}
		b, err := s.Data()
		if err != nil && s.Type != elf.SHT_NOBITS {
			t.Fatal(err)
		}
		out.WriteString(s.Name + "\n")
		out.Write(b)
	}
	syms, _ := f.Symbols()
	for _, s := range syms {
		out.WriteString(s.Name + "\n")
	}
	return out.Bytes()
}

func TestParseDeclarations(t *testing.T) {
	src := `# 1 "x.c"
typedef unsigned int u32;
typedef struct { int a; } anon_t;
struct s { int a; struct inner { int b; } in; enum { E1, E2 = 3 } e; };
struct fwd;
static inline __attribute__((always_inline)) u32 (*getter(int k))(void) { return 0; }
extern int v __attribute__((section(".x"))), w[3];
int x = 1, (*fp)(u32 a, u32 b);
static void g(void) { }
#pragma GCC diagnostic push
#pragma pack(1)
_Static_assert(1, "x");
asm(".globl q");
;
`
	u, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range u.Decls {
		got = append(got, strings.Join(d.defines, ",")+flags(d))
	}
	want := []string{
		"u32",
		"anon_t",
		"s,inner,E1,E2 struct s nested:inner,E1,E2",
		"inert",
		"getter",
		"v,w",
		"x,fp root",
		"g root",
		"",
		" root",
		"inert",
		" root",
		"inert",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("defines:\n got %q\nwant %q", got, want)
	}
}

func flags(d *Decl) string {
	var f []string
	if d.root {
		f = append(f, "root")
	}
	if d.inert {
		f = append(f, "inert")
	}
	if d.unknown {
		f = append(f, "unknown")
	}
	if d.aggregate != "" {
		f = append(f, d.aggregate)
	}
	if len(d.nested) > 0 {
		f = append(f, "nested:"+strings.Join(d.nested, ","))
	}
	if len(f) == 0 {
		return ""
	}
	if len(d.defines) == 0 && f[0] == "inert" {
		return "inert"
	}
	return " " + strings.Join(f, " ")
}
