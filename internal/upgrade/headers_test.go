package upgrade

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestNeededHeaders: of a file's changed headers, the retry applies those
// whose change names what the compiler's errors quote.
func TestNeededHeaders(t *testing.T) {
	old, new := t.TempDir(), t.TempDir()
	write := func(root, rel, text string) { writeFile(t, root, rel, text) }
	// helper.h adds the function the fix calls; big.h (included
	// everywhere) changes something else; layout.h adds a member.
	write(old, "include/helper.h", "int a(void);\n")
	write(new, "include/helper.h", "int a(void);\nint foo_helper(int x);\n")
	write(old, "include/big.h", "#define BIG 1\n")
	write(new, "include/big.h", "#define BIG 2\n")
	write(old, "include/layout.h", "struct bar {\n\tint a;\n};\n")
	write(new, "include/layout.h", "struct bar {\n\tint a;\n\tint baz;\n\tunsigned int sizeof_x;\n};\n")
	// attr.h defines a new attribute macro.
	write(old, "include/attr.h", "#define __a1 __attribute__((x))\n")
	write(new, "include/attr.h", "#define __a1 __attribute__((x))\n#define __no_stack_protector __attribute__((__no_stack_protector__))\n")
	// ops.h adds a parameter to a function pointer on the
	// declaration's last line; the member's name is on its first.
	write(old, "include/ops.h", "struct ops {\n\tvoid (*other)(void);\n\tint (*recv)(struct sock *sk,\n\t\t    struct sk_buff *skb,\n\t\t    bool *own);\n\tint n;\n};\n")
	write(new, "include/ops.h", "struct ops {\n\tvoid (*other)(void);\n\tint (*recv)(struct sock *sk,\n\t\t    struct sk_buff *skb,\n\t\t    bool *own,\n\t\t    void (*init)(struct sock *newsk));\n\tint n;\n};\n")
	write(new, "net/x.c", "void f(struct bar *p)\n{\n\tWRITE_ONCE(p->baz, 1);\n}\n")
	u := &upgrader{old: old, new: new}
	headers := []string{"include/attr.h", "include/big.h", "include/helper.h", "include/layout.h", "include/ops.h"}
	for _, c := range []struct {
		name, errs string
		want       []string
	}{
		{"implicit declaration", "kernel/x.c:3:9: error: implicit declaration of function ‘foo_helper’ [-Werror=implicit-function-declaration]", []string{"include/helper.h"}},
		{"C locale quotes", "kernel/x.c:3:9: error: implicit declaration of function 'foo_helper'", []string{"include/helper.h"}},
		{"missing member", "kernel/x.c:7:10: error: ‘struct bar’ has no member named ‘baz’\n   7 |  p->baz = 1;", []string{"include/layout.h"}},
		{"two", "kernel/x.c:3:9: error: implicit declaration of function ‘foo_helper’\nkernel/x.c:7:10: error: ‘struct bar’ has no member named ‘baz’", []string{"include/helper.h", "include/layout.h"}},
		// gcc's guess and an expression's type are not missing, nor
		// is a keyword.
		{"guess and type", "net/x.c:2400:29: error: implicit declaration of function ‘foo_helper’; did you mean ‘baz’? [-Werror=implicit-function-declaration]\nnet/x.c:2400:41: error: invalid type argument of ‘->’ (have ‘int’)", []string{"include/helper.h"}},
		{"keyword", "net/x.c:9:3: error: ‘sizeof’ applied to a bit-field", nil},
		// ... or names the line of the macro's use that does.
		{"member's type at a note's line", "/k/post/src/net/x.c:9:3: error: ‘sizeof’ applied to a bit-field\n/k/post/src/net/x.c:3:9: note: in expansion of macro ‘WRITE_ONCE’\n      |         ^~~~~~~~~~", []string{"include/layout.h"}},
		// ... whose code shows the member whose type changed.
		{"member's type", "net/core/dev.c:10166:9: error: ‘sizeof’ applied to a bit-field\n10166 |  BUILD_BUG_ON(sizeof(p->baz) > 1);\n      |         ^~~~~~", []string{"include/layout.h"}},
		// A call through a member: the member is what changed.
		{"member call", "net/x.c:249:17: error: too many arguments to function ‘inet_csk((const struct sock *)sk)->ops->baz’", []string{"include/layout.h"}},
		// The same, where the header's diff shows only the
		// declaration's last lines.
		{"member declared over lines", "net/ipv4/syncookies.c:201:17: error: too many arguments to function ‘icsk->icsk_af_ops->recv’", []string{"include/ops.h"}},
		// An initializer of the other type: the note names the member.
		{"member initialized", "net/dccp/ipv4.c:932:30: error: initialization of ‘int (*)(struct sock *, struct sk_buff *, bool *, void (*)(struct sock *))’ from incompatible pointer type ‘int (*)(struct sock *, struct sk_buff *, bool *)’ [-Werror=incompatible-pointer-types]\nnet/dccp/ipv4.c:932:30: note: (near initialization for ‘dccp_ipv4_af_ops.recv’)", []string{"include/ops.h"}},
		// ... but not its neighbours.
		{"member beside", "net/x.c:9:3: error: too few arguments to function ‘o->other’", nil},
		// An unknown macro: the code gcc shows names it.
		{"unknown macro", "init/main.c:911:71: error: expected ‘;’ before ‘void’\n  911 | asmlinkage __visible __init __no_stack_protector\n      |                                                 ^\n  912 | void start_kernel(void)", []string{"include/attr.h"}},
		// A warning's quotes are not what failed the build.
		{"warning only", "kernel/x.c:3:9: warning: unused variable ‘BIG’", nil},
		{"nothing quoted", "make[3]: *** [scripts/Makefile.build:250: kernel/x.o] Error 1", nil},
	} {
		if got := u.neededHeaders(context.Background(), headers, c.errs); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// TestWithHeaders: a fix whose header needs another header's change is
// tried with the two, not with every changed header it includes; when
// the errors name nothing the headers declare, all of them are tried.
func TestWithHeaders(t *testing.T) {
	old, new := t.TempDir(), t.TempDir()
	write := func(root, rel, text string) { writeFile(t, root, rel, text) }
	// helper.h's new helper takes types.h's new type; list.h, which
	// everything includes, changes too.
	write(old, "include/helper.h", "int a(void);\n")
	write(new, "include/helper.h", "int a(void);\nint foo_helper(struct foo_args *x);\n")
	write(old, "include/types.h", "struct a;\n")
	write(new, "include/types.h", "struct a;\nstruct foo_args { int n; };\n")
	write(old, "include/list.h", "#define L 1\n")
	write(new, "include/list.h", "#define L 2\n")
	u := &upgrader{old: old, new: new, o: Options{Log: io.Discard}}
	g := Group{Files: []string{"net/x.c"}, Headers: []string{"include/helper.h", "include/list.h", "include/types.h"}}
	first := "net/x.c:3:9: error: implicit declaration of function ‘foo_helper’"
	// The compiler as the headers given make it: without types.h,
	// helper.h's declaration names an unknown struct.
	build := func(tried *[]string) func([]string) Outcome {
		return func(headers []string) Outcome {
			*tried = append(*tried, strings.Join(headers, " "))
			has := map[string]bool{}
			for _, h := range headers {
				has[h] = true
			}
			switch {
			case !has["include/helper.h"]:
				return Outcome{Rule: RuleBuildError, Reason: first}
			case !has["include/types.h"]:
				return Outcome{Rule: RuleBuildError, Reason: "include/helper.h:2:23: error: ‘struct foo_args’ declared inside parameter list\nnet/x.c:5:3: error: invalid use of undefined type ‘struct foo_args’"}
			}
			return Outcome{Category: Carried}
		}
	}
	var tried []string
	if oc := u.withHeaders(context.Background(), g, first, build(&tried)); oc.Category != Carried {
		t.Fatalf("got %+v, want carried", oc)
	}
	if want := []string{"include/helper.h", "include/helper.h include/types.h"}; !reflect.DeepEqual(tried, want) {
		t.Errorf("tried %q, want %q", tried, want)
	}
	// Errors that name nothing a header's change declares: all.
	tried = nil
	u.withHeaders(context.Background(), g, "net/x.c:9:1: error: expected ‘;’ before ‘}’ token", build(&tried))
	if want := []string{"include/helper.h include/list.h include/types.h"}; !reflect.DeepEqual(tried, want) {
		t.Errorf("tried %q, want %q", tried, want)
	}
	// The second build's errors name only what the first named: all.
	tried = nil
	stuck := func(headers []string) Outcome {
		tried = append(tried, strings.Join(headers, " "))
		return Outcome{Rule: RuleBuildError, Reason: first}
	}
	u.withHeaders(context.Background(), g, first, stuck)
	if want := []string{"include/helper.h", "include/helper.h include/list.h include/types.h"}; !reflect.DeepEqual(tried, want) {
		t.Errorf("tried %q, want %q", tried, want)
	}
}

// TestScanProgress: of a create's log, the upgrade passes on the scan's
// progress and warnings, named by the group's files, whole lines only.
func TestScanProgress(t *testing.T) {
	var log strings.Builder
	u := &upgrader{o: Options{Log: &log}}
	p := &scanProgress{u: u, files: "net/x.c"}
	for _, chunk := range []string{
		"create: compilers: gcc-12\ncreate: scanned 64 of 1020 obj",
		"ects that include a changed header: 3 may change\n",
		"create: net/a.o: rebuilt: x\ncreate: warning: the scan could not keep a.o's unit\n",
	} {
		if n, err := p.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	want := "upgrade: net/x.c: scanned 64 of 1020 objects that include a changed header: 3 may change\n" +
		"upgrade: net/x.c: warning: the scan could not keep a.o's unit\n"
	if log.String() != want {
		t.Errorf("log:\n%s\nwant:\n%s", log.String(), want)
	}
}

// writeFile writes text to rel under root, making its directories.
func writeFile(t *testing.T, root, rel, text string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
