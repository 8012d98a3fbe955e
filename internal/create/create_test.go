package create

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/srcpatch"
	"github.com/ksplice-go/ksplice/internal/update"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

func TestPlan(t *testing.T) {
	tree := t.TempDir()
	os.MkdirAll(filepath.Join(tree, "fs", "proc"), 0o755)
	os.WriteFile(filepath.Join(tree, "fs", "proc", "internal.h"), nil, 0o644)
	os.WriteFile(filepath.Join(tree, "fs", "proc", "base.c"), []byte("#include \"internal.h\"\n"), 0o644)
	os.WriteFile(filepath.Join(tree, "fs", "proc", "array.c"), []byte("# include \"internal.h\" /* x */\n"), 0o644)
	os.WriteFile(filepath.Join(tree, "fs", "proc", "cmdline.c"), []byte("#include <linux/fs.h>\n"), 0o644)
	ch := func(paths ...string) []srcpatch.Change {
		var cs []srcpatch.Change
		for _, p := range paths {
			cs = append(cs, srcpatch.Change{Old: p, New: p})
		}
		return cs
	}
	p, err := plan(ch("fs/proc/cmdline.c", "Documentation/x.rst"), tree)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.Objects, " ") != "fs/proc/cmdline.o" || strings.Join(p.Ignored, " ") != "Documentation/x.rst" {
		t.Errorf("plan = %+v", p)
	}
	p, err = plan(ch("fs/proc/internal.h"), tree)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.Objects, " ") != "fs/proc/array.o fs/proc/base.o" {
		t.Errorf("header users = %v", p.Objects)
	}
	for _, tc := range []struct {
		changes []srcpatch.Change
		want    string
	}{
		{ch("arch/x86/lib/memcpy_64.S"), "assembly"},
		{ch("include/linux/fs.h"), "shared header"},
		{ch("fs/proc/Makefile"), "build configuration"},
		{ch("Documentation/x.rst"), "changes no compiled code"},
		{[]srcpatch.Change{{New: "fs/proc/new.c"}}, "new file"},
		{[]srcpatch.Change{{Old: "fs/proc/cmdline.c"}}, "deleted"},
	} {
		_, err := plan(tc.changes, tree)
		if !errors.Is(err, verdict.ErrRefused) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("plan(%v) = %v, want refusal mentioning %q", tc.changes, err, tc.want)
		}
	}
}

func TestDeriveIDAndSubject(t *testing.T) {
	for _, name := range []string{"0001-proc-Fix-the-thing.patch", "CVE-2026-1234.diff", "---.diff", strings.Repeat("x", 80) + ".diff"} {
		id := deriveID(name, []byte("x"))
		if !update.ValidID(id) {
			t.Errorf("deriveID(%q) = %q, not a valid id", name, id)
		}
	}
	if id := deriveID("0001-proc-Fix.patch", []byte("x")); !strings.HasPrefix(id, "0001_proc_fix_") {
		t.Errorf("deriveID = %q", id)
	}
	raw := []byte("From: x\nSubject: [PATCH v2 3/7] proc: fix it\n\ndiff --git a/x b/x\n")
	if s := subject(raw, "f.diff"); s != "proc: fix it" {
		t.Errorf("subject = %q", s)
	}
	if s := subject([]byte("--- a/x\n+++ b/x\n"), "dir/f.diff"); s != "f.diff" {
		t.Errorf("subject without header = %q", s)
	}
}
