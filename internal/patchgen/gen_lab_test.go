package patchgen

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

// TestGenerateDump writes the module source for a pre/post pair named by
// KSPLICE_PG_PRE/POST into KSPLICE_PG_OUT; a development aid.
func TestGenerateDump(t *testing.T) {
	pre, post, out := os.Getenv("KSPLICE_PG_PRE"), os.Getenv("KSPLICE_PG_POST"), os.Getenv("KSPLICE_PG_OUT")
	if pre == "" {
		t.Skip("set KSPLICE_PG_PRE, KSPLICE_PG_POST, KSPLICE_PG_OUT")
	}
	a, err := elfdiff.Open(pre)
	if err != nil {
		t.Fatal(err)
	}
	b, err := elfdiff.Open(post)
	if err != nil {
		t.Fatal(err)
	}
	res, err := elfdiff.Diff(a, b)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := ReadSymvers(os.Getenv("KSPLICE_PG_SYMVERS"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Generate(Input{ID: "test", Description: "test", Target: "vmlinux", Objects: []Object{{Rel: "x.o", Result: res}}, Exported: func(s string) bool { return exp[s] }})
	if err != nil {
		t.Fatal(err)
	}
	for n, b := range m.Files {
		os.WriteFile(filepath.Join(out, n), b, 0o644)
	}
}
