package create

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/kbuild"
)

// TestUnitStore: units come back as stored, the key follows what a unit
// depends on, and the trim keeps the most recently used within budget.
func TestUnitStore(t *testing.T) {
	dir := t.TempDir()
	k := &kbuild.Kernel{Spec: "debian:x", Version: "1", Dir: dir, Tree: kbuild.Tree{Source: "/src", Build: "/build"}}
	include := t.TempDir()
	if err := os.WriteFile(filepath.Join(include, "ksplice.h"), []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	pre := kbuild.Tree{Source: k.Source, Build: k.Build, Include: include}
	s, err := newUnitStore(k, pre)
	if err != nil || s == nil {
		t.Fatalf("newUnitStore: %v, %v", s, err)
	}
	// A tree with earlier patches is a scratch copy: nothing stored.
	if s2, err := newUnitStore(k, kbuild.Tree{Source: "/base/src", Build: k.Build}); s2 != nil || err != nil {
		t.Errorf("a scratch tree has a store: %v, %v", s2, err)
	}
	text := bytes.Repeat([]byte("int a;\n# 1 \"x.h\"\n"), 10000)
	if s.has("net/a.o") {
		t.Fatal("an empty store has a unit")
	}
	if err := s.put("net/a.o", text); err != nil {
		t.Fatal(err)
	}
	if !s.has("net/a.o") {
		t.Fatal("the unit stored is not there")
	}
	got, err := s.get("net/a.o")
	if err != nil || !bytes.Equal(got, text) {
		t.Fatalf("get: %d bytes, %v; want the %d stored", len(got), err, len(text))
	}
	// Other headers for authors, another key.
	if err := os.WriteFile(filepath.Join(include, "ksplice.h"), []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s3, err := newUnitStore(k, pre); err != nil || s3.dir == s.dir || s3.has("net/a.o") {
		t.Errorf("another include directory's store is the same: %v, %v", s3, err)
	}
	// The trim keeps the most recently used.
	for _, o := range []string{"net/b.o", "net/c.o"} {
		if err := s.put(o, text); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	for i, o := range []string{"net/a.o", "net/b.o", "net/c.o"} {
		at := old.Add(time.Duration(i) * time.Minute)
		os.Chtimes(s.path(o), at, at)
	}
	if _, err := s.get("net/a.o"); err != nil { // used now
		t.Fatal(err)
	}
	info, err := os.Stat(s.path("net/a.o"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.trim(2 * info.Size()); err != nil {
		t.Fatal(err)
	}
	for o, want := range map[string]bool{"net/a.o": true, "net/b.o": false, "net/c.o": true} {
		if s.has(o) != want {
			t.Errorf("after the trim, has(%s) = %v, want %v", o, !want, want)
		}
	}
}
