package create

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// TestHeadersKey: the scan's verdicts are shared between patches whose
// changed headers read the same after them, whatever .c files they also
// change, and never between patches whose headers differ.
func TestHeadersKey(t *testing.T) {
	src := t.TempDir()
	write := func(rel, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, rel), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	patch := func(files ...string) *srcpatch.Patch {
		p := &srcpatch.Patch{}
		for _, f := range files {
			p.Changes = append(p.Changes, srcpatch.Change{Old: f, New: f})
		}
		return p
	}
	key := func(p *srcpatch.Patch) string {
		t.Helper()
		k, err := headersKey(src, p)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write("include/net/dst.h", "struct dst_entry { void *dev; };\n")
	write("net/ipv4/igmp.c", "int a;\n")
	write("net/ipv4/route.c", "int b;\n")
	a := key(patch("net/ipv4/igmp.c", "include/net/dst.h"))
	b := key(patch("include/net/dst.h", "net/ipv4/route.c"))
	if a != b {
		t.Errorf("same header, other .c files: keys %q and %q differ", a, b)
	}
	write("include/net/dst.h", "struct dst_entry { union { void *dev; void *dev_rcu; }; };\n")
	if c := key(patch("include/net/dst.h")); c == a {
		t.Errorf("the header changed, the key did not")
	}
	if d := key(patch("include/net/dst.h", "include/net/ip.h")); d == key(patch("include/net/dst.h")) {
		t.Errorf("one header more (missing after the patch), the same key")
	}
}
