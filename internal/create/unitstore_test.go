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
	k := &kbuild.Kernel{Spec: "debian:x", Version: "1", Dir: dir, Tree: kbuild.Tree{Source: "/src", Build: "/build"},
		Packages: map[string]string{"linux-source-x": "1"}}
	include := t.TempDir()
	if err := os.WriteFile(filepath.Join(include, "ksplice.h"), []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	pre := kbuild.Tree{Source: k.Source, Build: k.Build, Include: include}
	var warn bytes.Buffer
	s, err := newUnitStore(k, pre, &warn)
	if err != nil || s == nil {
		t.Fatalf("newUnitStore: %v, %v", s, err)
	}
	// A tree with earlier patches is a scratch copy, and a source tree
	// given by its directory is the user's: nothing stored.
	if s2, err := newUnitStore(k, kbuild.Tree{Source: "/base/src", Build: k.Build}, &warn); s2 != nil || err != nil {
		t.Errorf("a scratch tree has a store: %v, %v", s2, err)
	}
	src := *k
	src.Version, src.Packages = "", nil
	if s2, err := newUnitStore(&src, pre, &warn); s2 != nil || err != nil {
		t.Errorf("a src: kernel's tree has a store: %v, %v", s2, err)
	}
	text := bytes.Repeat([]byte("int a;\n# 1 \"x.h\"\n"), 10000)
	if s.has("net/a.o") {
		t.Fatal("an empty store has a unit")
	}
	s.put("net/a.o", text)
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
	if s3, err := newUnitStore(k, pre, &warn); err != nil || s3.dir == s.dir || s3.has("net/a.o") {
		t.Errorf("another include directory's store is the same: %v, %v", s3, err)
	}
	// The trim keeps the most recently used.
	for _, o := range []string{"net/b.o", "net/c.o"} {
		s.put(o, text)
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
	s.trim(2 * info.Size())
	for o, want := range map[string]bool{"net/a.o": true, "net/b.o": false, "net/c.o": true} {
		if s.has(o) != want {
			t.Errorf("after the trim, has(%s) = %v, want %v", o, !want, want)
		}
	}
	// A damaged unit is an error, and is gone after it.
	if err := os.WriteFile(s.path("net/c.o"), []byte("not deflate"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.get("net/c.o"); err == nil || s.has("net/c.o") {
		t.Errorf("a damaged unit: %v, still there: %v", err, s.has("net/c.o"))
	}
	// Trimmed to nothing: the directories go too.
	s.trim(0)
	if _, err := os.Stat(filepath.Join(s.dir, "net")); !os.IsNotExist(err) {
		t.Errorf("an emptied directory stays: %v", err)
	}
	if warn.Len() > 0 {
		t.Errorf("warnings: %s", warn.String())
	}
}
