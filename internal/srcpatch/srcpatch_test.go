package srcpatch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/verdict"
)

const gitDiff = `From: a
Subject: [PATCH] fix

diff --git a/fs/x.c b/fs/x.c
--- a/fs/x.c
+++ b/fs/x.c
@@ -1,3 +1,3 @@
 one
-two
+TWO
 three
`

// plainDiff is diff -u output with a different prefix and an offset hunk.
const plainDiff = `--- linux.orig/fs/x.c	2026-01-01
+++ linux/fs/x.c	2026-01-02
@@ -2,3 +2,3 @@
 one
-two
+TWO
 three
`

func tree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "fs"), 0o755)
	os.WriteFile(filepath.Join(dir, "fs", "x.c"), []byte("zero\none\ntwo\nthree\n"), 0o644)
	return dir
}

func TestResolveAndApply(t *testing.T) {
	for name, diff := range map[string]string{"git": gitDiff, "plain": plainDiff} {
		t.Run(name, func(t *testing.T) {
			pristine := tree(t)
			p, err := Parse(strings.NewReader(diff))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Resolve(pristine); err != nil {
				t.Fatal(err)
			}
			if len(p.Changes) != 1 || p.Changes[0].Path() != "fs/x.c" {
				t.Fatalf("changes = %+v", p.Changes)
			}
			// Apply to a hard-linked copy: the pristine file must stay.
			scratch := t.TempDir()
			os.MkdirAll(filepath.Join(scratch, "fs"), 0o755)
			if err := os.Link(filepath.Join(pristine, "fs", "x.c"), filepath.Join(scratch, "fs", "x.c")); err != nil {
				t.Fatal(err)
			}
			if err := p.Apply(context.Background(), scratch); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(filepath.Join(scratch, "fs", "x.c"))
			orig, _ := os.ReadFile(filepath.Join(pristine, "fs", "x.c"))
			if string(got) != "zero\none\nTWO\nthree\n" {
				t.Errorf("patched = %q", got)
			}
			if string(orig) != "zero\none\ntwo\nthree\n" {
				t.Errorf("pristine file changed through its hard link: %q", orig)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	pristine := tree(t)
	if _, err := Parse(strings.NewReader("just words\n")); !errors.Is(err, ErrEmpty) {
		t.Errorf("no diff: err = %v, want ErrEmpty", err)
	}
	p, _ := Parse(strings.NewReader(strings.Replace(gitDiff, "fs/x.c", "fs/nothere.c", -1)))
	if err := p.Resolve(pristine); !errors.Is(err, ErrDoesNotApply) || !errors.Is(err, verdict.ErrRefused) {
		t.Errorf("missing file: err = %v", err)
	}
	p, _ = Parse(strings.NewReader(strings.Replace(gitDiff, "-two", "-deux", 1)))
	if err := p.Resolve(pristine); err != nil {
		t.Fatal(err)
	}
	err := p.Apply(context.Background(), pristine)
	var ae *ApplyError
	if !errors.As(err, &ae) || !errors.Is(err, verdict.ErrRefused) || !strings.Contains(ae.Output, "FAILED") {
		t.Errorf("context mismatch: err = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(pristine, "fs", "x.c")); string(b) != "zero\none\ntwo\nthree\n" {
		t.Errorf("failed patch changed the tree: %q", b)
	}
	p, _ = Parse(strings.NewReader(strings.Replace(gitDiff, "a/fs/x.c", "a/../../etc/passwd", -1)))
	if err := p.Resolve(pristine); err == nil {
		t.Error("path escaping the tree: want an error")
	}
}

func TestEdit(t *testing.T) {
	pristine := tree(t)
	for _, tc := range []struct {
		name, diff     string
		want           string
		removed, added []int
		err            error
	}{
		{name: "exact", diff: plainDiff, want: "zero\none\nTWO\nthree\n", removed: []int{3}, added: []int{3}},
		{name: "hunks", diff: `--- a/fs/x.c
+++ b/fs/x.c
@@ -1,0 +2,2 @@
+first
+second
@@ -3,2 +5,1 @@
-two
 three
`, want: "zero\nfirst\nsecond\none\nthree\n", removed: []int{3}, added: []int{2, 3}},
		{name: "offset", diff: gitDiff, err: ErrOffset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse(strings.NewReader(tc.diff))
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Resolve(pristine); err != nil {
				t.Fatal(err)
			}
			e, err := p.Edit(pristine, "fs/x.c")
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(e.New) != tc.want || string(e.Old) != "zero\none\ntwo\nthree\n" {
				t.Errorf("old %q new %q", e.Old, e.New)
			}
			if !slices.Equal(e.Removed, tc.removed) || !slices.Equal(e.Added, tc.added) {
				t.Errorf("removed %v added %v, want %v %v", e.Removed, e.Added, tc.removed, tc.added)
			}
		})
	}
	if _, err := (&Patch{Changes: []Change{}}).Edit(pristine, "fs/y.c"); err == nil {
		t.Error("edit of a file the patch does not change: no error")
	}
}
