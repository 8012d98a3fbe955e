package cdecl

import (
	"fmt"
	"strings"
	"testing"
)

const header = `/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _X_H
#define _X_H \
	1

/**
 * rcu_x() - a comment naming a function
 */
void rcu_barrier(void);
__printf(2, 3) int dev_log(const struct device *dev,
			   const char *fmt, ...);
static inline bool rcu_is_watching(void) { return true; }
static inline void f(int a)
{
	if (a) {
		g(a);
	}
}
int h(u32) __attribute__((cold));
extern int x;
struct s {
	int (*op)(void);
};
typedef int (*cb_t)(void);
DECLARE_PER_CPU(int, counter);
static DEFINE_SPINLOCK(lock);
void (*hook)(void);
int a(void), b(void);
enum { A = 1 };
SEQ_LOCK(raw_spinlock, raw_spinlock_t)
SEQ_LOCK(spinlock, spinlock_t)
static inline int seq_retry(int s) { return s; }
static __attribute__((always_inline)) int attr_first(void) { return 0; }
static __printf(1, 2) void logf(const char *fmt, ...);
void locked(void) __acquires(l) __releases(l);
typeof(x) typed(void);
#endif
`

func TestScan(t *testing.T) {
	var got []string
	for _, d := range Scan([]byte(header)) {
		got = append(got, fmt.Sprintf("%d-%d %s %s", d.First, d.Last, d.Kind, d.Name))
	}
	want := []string{
		"2-2 directive ",
		"3-4 directive ",
		"9-9 function rcu_barrier",
		"10-11 function dev_log",
		"12-12 function rcu_is_watching",
		"13-18 function f",
		"19-19 function h",
		"20-20 declaration ",
		"21-23 declaration ",
		"24-24 declaration ",
		"25-25 declaration ",
		"26-26 declaration ",
		"27-27 declaration ",
		"28-28 declaration ",
		"29-29 declaration ",
		"30-32 declaration ",
		"33-33 function attr_first",
		"34-34 function logf",
		"35-35 function locked",
		"36-36 declaration ",
		"37-37 directive ",
	}
	for _, d := range Scan([]byte(header + "int defined(void) { return 0; }\n")) {
		switch d.Name {
		case "rcu_barrier":
			if d.Body || d.Static {
				t.Errorf("rcu_barrier: a prototype, not static: %+v", d)
			}
		case "f", "rcu_is_watching":
			if !d.Body || !d.Static {
				t.Errorf("%s: a static definition: %+v", d.Name, d)
			}
		case "defined":
			if !d.Body || d.Static {
				t.Errorf("defined: a definition with external linkage: %+v", d)
			}
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Scan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestTags: a declaration that only defines a type says which.
func TestTags(t *testing.T) {
	for src, want := range map[string]string{
		"struct s { int a; };":                                        "struct s",
		"union u { int a; long b; } __attribute__((packed));":         "union u",
		"enum e { A, B = 2 };":                                        "enum e",
		"struct net_device { char name[16]; } ____cacheline_aligned;": "struct net_device",
		"struct s { int a; } var;":                                    "",
		"typedef struct s { int a; } s_t;":                            "",
		"struct { int a; } anon;":                                     "",
		"struct s;":                                                   "",
		"enum { A = 1 };":                                             "",
		"struct s *f(void);":                                          "",
	} {
		ds := Scan([]byte(src))
		if len(ds) != 1 || ds[0].Tag != want {
			t.Errorf("Scan(%q) = %+v, want one declaration of %q", src, ds, want)
		}
	}
	for src, want := range map[string]string{
		"#define A 1\n":             "A",
		"# define F(x) \\\n\t(x)\n": "F",
		"#ifdef A\n":                "",
		"#undef A\n":                "",
		"#define\n":                 "",
	} {
		ds := Scan([]byte(src))
		if len(ds) != 1 || ds[0].Kind != Directive || ds[0].Macro != want {
			t.Errorf("Scan(%q) = %+v, want a directive defining %q", src, ds, want)
		}
	}
}

func TestTokens(t *testing.T) {
	src := "#define CALL(x) rcu_##x()\n/* rcu_momentary_eqs */ a = \"b\" + c ## d; // e\nf\n"
	var got []string
	for _, tk := range Tokens([]byte(src)) {
		s := fmt.Sprintf("%s@%d", tk.Name, tk.Line)
		if tk.Pasted {
			s += "#"
		}
		got = append(got, s)
	}
	want := "define@1 CALL@1 x@1 rcu_@1# x@1# a@2 c@2# d@2# f@3"
	if strings.Join(got, " ") != want {
		t.Errorf("Tokens = %s, want %s", strings.Join(got, " "), want)
	}

	// A header's name is one token, not the words of its path; in
	// quotes it is a string.
	src = "#include <uapi/linux/utsname.h>\n# include_next <a.h> /* b */\n#include \"utsname.h\"\nx = utsname();\ny < z > w;\n"
	got = nil
	for _, tk := range Tokens([]byte(src)) {
		got = append(got, tk.Name+tk.Next)
	}
	if got, want := strings.Join(got, " "), "include<uapi/linux/utsname.h> include_next<a.h> include\"utsname.h\" x= utsname( y< z> w;"; got != want {
		t.Errorf("Tokens = %s, want %s", got, want)
	}

	// After an extern in its statement (a block-scope extern
	// declaration), or not.
	src = "extern int a(int b);\nvoid c(int d) { extern int e(void); d = e(); }\n#define F(x) extern int x\ng;\n"
	got = nil
	for _, tk := range Tokens([]byte(src)) {
		if tk.Extern {
			got = append(got, tk.Name)
		}
	}
	if got, want := strings.Join(got, " "), "int a int b int e void int x"; got != want {
		t.Errorf("Extern: %s, want %s", got, want)
	}

	// What comes before each, and whether it is on a directive's
	// line (continued lines too).
	src = "#define G(d) \\\n\t(d)->m\nx = d->m + s.n + f(a, b);\n  # if y\nz\n"
	got = nil
	for _, tk := range Tokens([]byte(src)) {
		s := tk.Prev + tk.Name
		if tk.Directive {
			s = "#" + s
		}
		got = append(got, s)
	}
	want = "##define #defineG #(d #(d #->m x =d ->m +s .n +f (a ,b ##if #ify z"
	var nexts []string
	for _, tk := range Tokens([]byte(src)) {
		nexts = append(nexts, tk.Name+tk.Next)
	}
	if got, want := strings.Join(nexts, " "), "defineG G( d) d) m x= d- m+ s. n+ f( a, b) ify y z"; got != want {
		t.Errorf("Next: %s, want %s", got, want)
	}
	if strings.Join(got, " ") != want {
		t.Errorf("Tokens = %s, want %s", strings.Join(got, " "), want)
	}

	// A function-like macro's parameters (asm.h's __ASM_REG), not an
	// object-like macro's words in parentheses.
	src = "#define R(reg, ...) e##reg, r##reg, x##__VA_ARGS__\n#define O (reg)\nreg\n"
	got = nil
	for _, tk := range Tokens([]byte(src)) {
		if tk.Param {
			got = append(got, fmt.Sprintf("%s@%d", tk.Name, tk.Line))
		}
	}
	if want = "reg@1 reg@1 reg@1 __VA_ARGS__@1"; strings.Join(got, " ") != want {
		t.Errorf("parameters: %s, want %s", strings.Join(got, " "), want)
	}
	got = nil
	for _, tk := range Tokens([]byte(src)) {
		got = append(got, tk.Macro)
	}
	if want = ",R,R,R,R,R,R,R,R,,O,O,"; strings.Join(got, ",") != want {
		t.Errorf("macros: %q, want %q", strings.Join(got, ","), want)
	}
}

func TestPastes(t *testing.T) {
	src := "#define SR(name) .name = reg ## name ## _BASE_IDX\n" +
		"#define netif_level(level, dev) netdev_##level(dev)\n" +
		"#define N(x) x ## 12, a##b\n" +
		"a ## b\n"
	var got []string
	for _, p := range Pastes([]byte(src)) {
		var parts []string
		for _, pt := range p.Parts {
			if pt.Literal {
				parts = append(parts, pt.Text)
			} else {
				parts = append(parts, "<"+pt.Text+">")
			}
		}
		got = append(got, fmt.Sprintf("%d %s: %s %s", p.Line, p.Macro, p.Prev, strings.Join(parts, " ")))
	}
	want := []string{
		"1 SR: = reg <name> _BASE_IDX",
		"2 netif_level: ) netdev_ <level>",
		"3 N: ) <x> <1>",
		"3 N: , a b",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("Pastes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// FuzzScan: any text scans without a panic, into declarations whose
// lines are within the text and in order, and tokens that are
// identifiers.
func FuzzScan(f *testing.F) {
	f.Add([]byte(header))
	f.Add([]byte("/* open"))
	f.Add([]byte("#define X \\\n"))
	f.Add([]byte("\"unterminated\nint f(void);"))
	f.Add([]byte("a ## b ## c } } ; { ( ) )"))
	f.Fuzz(func(t *testing.T, src []byte) {
		lines := strings.Count(string(src), "\n") + 1
		prev := 0
		for _, d := range Scan(src) {
			if d.First < 1 || d.Last < d.First || d.Last > lines || d.First < prev {
				t.Fatalf("declaration %+v out of place (lines 1-%d, previous at %d)", d, lines, prev)
			}
			if d.Kind != Directive {
				prev = d.First
			}
			if (d.Kind == Function) != (d.Name != "") {
				t.Fatalf("declaration %+v: a name only for a function", d)
			}
			if d.Tag != "" && d.Kind != Other || d.Macro != "" && d.Kind != Directive {
				t.Fatalf("declaration %+v: a tag only for a type, a macro only for a directive", d)
			}
		}
		for _, tk := range Tokens(src) {
			if tk.Name == "" || !isIdentStart(tk.Name[0]) || tk.Line < 1 || tk.Line > lines {
				t.Fatalf("token %+v", tk)
			}
		}
		for _, p := range Pastes(src) {
			if len(p.Parts) < 2 || p.Macro == "" || p.Line < 1 || p.Line > lines {
				t.Fatalf("paste %+v", p)
			}
		}
	})
}
