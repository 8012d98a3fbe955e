package create

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/elfdiff"

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

// TestOverBudgetReason: over the rebuild budget, a type the probes laid
// out otherwise is refused struct-layout, naming it and its users; else
// the budget's error says what most of the objects use that changed.
func TestOverBudgetReason(t *testing.T) {
	res := &scanResult{
		affected: []string{"a.o", "b.o", "c.o"},
		reasons: map[string]string{
			"a.o": "struct devlink_port changes its layout (include/net/devlink.h:1: struct devlink_port { ...) and the code uses it (f)",
			"b.o": "struct devlink_port changes its layout (include/net/devlink.h:1: struct devlink_port { ...) and the code uses it (g)",
			"c.o": "devlink_port_type_get changes (include/net/devlink.h:9: static inline ...) and the code uses it (h)",
		},
		relaid: map[string]string{"b.o": "struct devlink_port", "a.o": "struct devlink_port"},
	}
	err := relaidRefusal(res)
	var re *RefusedError
	if !errors.As(err, &re) || len(re.Refusals) != 1 {
		t.Fatalf("relaidRefusal: %v", err)
	}
	r := re.Refusals[0]
	if r.Object != "a.o" || r.Symbol != "struct devlink_port" || r.Rule != elfdiff.RuleStructLayout || !strings.Contains(r.Reason, "2 objects") {
		t.Errorf("refusal %+v", r)
	}
	if !errors.Is(err, elfdiff.ErrStructLayout) {
		t.Errorf("%v does not unwrap to ErrStructLayout", err)
	}
	if got, want := mostlyBecause(res), ", 2 of them because struct devlink_port changes"; got != want {
		t.Errorf("mostlyBecause = %q, want %q", got, want)
	}
	// Only measured layouts refuse: a probe that did not compile is
	// not a measurement.
	res.relaid = map[string]string{}
	if err := relaidRefusal(res); err != nil {
		t.Errorf("no type measured, refused: %v", err)
	}
}
