package kbuild

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadCmdAndModule(t *testing.T) {
	build := t.TempDir()
	os.MkdirAll(filepath.Join(build, "fs", "ext4"), 0o755)
	os.MkdirAll(filepath.Join(build, "fs", "proc"), 0o755)
	os.WriteFile(filepath.Join(build, "fs", "ext4", ".mballoc.o.cmd"), []byte(
		"savedcmd_fs/ext4/mballoc.o := gcc-12 -Wp,-MMD -DMODULE -DKBUILD_BASENAME='\"mballoc\"' -DKBUILD_MODNAME='\"ext4\"' -c -o fs/ext4/mballoc.o fs/ext4/mballoc.c\n\nsource_fs/ext4/mballoc.o := fs/ext4/mballoc.c\n"), 0o644)
	os.WriteFile(filepath.Join(build, "fs", "proc", ".cmdline.o.cmd"), []byte(
		"cmd_fs/proc/cmdline.o := gcc-12 -DKBUILD_MODFILE='\"fs/proc/cmdline\"' -DKBUILD_BASENAME='\"cmdline\"' -DKBUILD_MODNAME='\"cmdline\"' -c -o fs/proc/cmdline.o fs/proc/cmdline.c\n"), 0o644)
	for rel, want := range map[string]string{"fs/ext4/mballoc.o": "ext4", "fs/proc/cmdline.o": ""} {
		cmd, err := ReadCmd(build, rel)
		if err != nil {
			t.Fatal(err)
		}
		if got := moduleOf(cmd); got != want {
			t.Errorf("%s: module %q, want %q", rel, got, want)
		}
		if got := (Object{Module: moduleOf(cmd)}).Target(); want == "" && got != "vmlinux" {
			t.Errorf("%s: target %q, want vmlinux", rel, got)
		}
	}
	if _, err := ReadCmd(build, "fs/none.o"); err == nil {
		t.Error("missing .cmd: want an error")
	}
}

func TestCompilerErrors(t *testing.T) {
	out := `make: Entering directory '/src'
  CC      fs/proc/cmdline.o
fs/proc/cmdline.c: In function 'cmdline_proc_show':
fs/proc/cmdline.c:10:9: error: 'x' undeclared (first use in this function)
   10 |         x++;
      |         ^
make[3]: *** [scripts/Makefile.build:250: fs/proc/cmdline.o] Error 1
make: Leaving directory '/src'`
	got := compilerErrors(out)
	for _, want := range []string{"In function", "error: 'x' undeclared", "   10 |         x++;", "Error 1"} {
		if !strings.Contains(got, want) {
			t.Errorf("kept output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "  CC      fs/proc/cmdline.o") || strings.Contains(got, "Entering directory") {
		t.Errorf("kept progress lines:\n%s", got)
	}
}

// TestNothingToBuild: no objects is no make run (whose default goal is
// the whole kernel), in a tree where make would fail.
func TestNothingToBuild(t *testing.T) {
	dir := t.TempDir()
	tr := Tree{Source: filepath.Join(dir, "no-source"), Build: filepath.Join(dir, "no-build")}
	objs, err := tr.BuildObjects(context.Background(), nil, nil)
	if err != nil || len(objs) != 0 {
		t.Errorf("BuildObjects(nil) = %v, %v; want nothing, no error", objs, err)
	}
	units, err := tr.Preprocess(context.Background(), nil, "")
	if err != nil || len(units) != 0 {
		t.Errorf("Preprocess(nil) = %v, %v; want nothing, no error", units, err)
	}
	// The guard is what makes that so: with a goal, make runs and fails.
	if _, err := tr.BuildObjects(context.Background(), []string{"x.o"}, nil); err == nil {
		t.Error("BuildObjects(x.o) in a tree that does not exist succeeded")
	}
}
