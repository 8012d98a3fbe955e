package upgrade

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestNeededHeaders: of a file's changed headers, the retry applies those
// whose change names what the compiler's errors quote.
func TestNeededHeaders(t *testing.T) {
	old, new := t.TempDir(), t.TempDir()
	write := func(root, rel, text string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// helper.h adds the function the fix calls; big.h (included
	// everywhere) changes something else; layout.h adds a member.
	write(old, "include/helper.h", "int a(void);\n")
	write(new, "include/helper.h", "int a(void);\nint foo_helper(int x);\n")
	write(old, "include/big.h", "#define BIG 1\n")
	write(new, "include/big.h", "#define BIG 2\n")
	write(old, "include/layout.h", "struct bar {\n\tint a;\n};\n")
	write(new, "include/layout.h", "struct bar {\n\tint a;\n\tint baz;\n};\n")
	u := &upgrader{old: old, new: new}
	headers := []string{"include/big.h", "include/helper.h", "include/layout.h"}
	for _, c := range []struct {
		name, errs string
		want       []string
	}{
		{"implicit declaration", "kernel/x.c:3:9: error: implicit declaration of function ‘foo_helper’ [-Werror=implicit-function-declaration]", []string{"include/helper.h"}},
		{"C locale quotes", "kernel/x.c:3:9: error: implicit declaration of function 'foo_helper'", []string{"include/helper.h"}},
		{"missing member", "kernel/x.c:7:10: error: ‘struct bar’ has no member named ‘baz’\n   7 |  p->baz = 1;", []string{"include/layout.h"}},
		{"two", "kernel/x.c:3:9: error: implicit declaration of function ‘foo_helper’\nkernel/x.c:7:10: error: ‘struct bar’ has no member named ‘baz’", []string{"include/helper.h", "include/layout.h"}},
		// A warning's quotes are not what failed the build.
		{"warning only", "kernel/x.c:3:9: warning: unused variable ‘BIG’", nil},
		{"nothing quoted", "make[3]: *** [scripts/Makefile.build:250: kernel/x.o] Error 1", nil},
	} {
		if got := u.neededHeaders(context.Background(), headers, c.errs); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
