package kmod

import (
	"maps"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestAbortCausesDocumented: every abort_cause the engine can set
// (ksplice_core.c's reason table) is in docs/kernel-interface.md's table
// with the same errno, and the table names no cause the engine lacks:
// scripts key on these tokens, so a new one must be documented with it.
func TestAbortCausesDocumented(t *testing.T) {
	src, err := os.ReadFile("../../kmod-src/ksplice_core.c")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/kernel-interface.md")
	if err != nil {
		t.Fatal(err)
	}
	engine := map[string]string{}
	for _, m := range regexp.MustCompile(`\[KSPLICE_\w+\]\s*=\s*\{\s*"(\w+)",\s*(-E\w+|0)\s*\}`).FindAllStringSubmatch(string(src), -1) {
		if m[1] != "none" {
			engine[m[1]] = strings.TrimPrefix(m[2], "-")
		}
	}
	if len(engine) < 10 {
		t.Fatalf("found %d causes in ksplice_core.c: the table's shape changed", len(engine))
	}
	documented := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(\\w+)` \\| (E[A-Z]+) \\|").FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = m[2]
	}
	if !maps.Equal(engine, documented) {
		for c, e := range engine {
			if documented[c] != e {
				t.Errorf("engine cause %s (%s): documented as %q", c, e, documented[c])
			}
		}
		for c := range documented {
			if _, ok := engine[c]; !ok {
				t.Errorf("documented cause %s: not in the engine", c)
			}
		}
	}
}
