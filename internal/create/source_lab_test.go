package create

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
	"github.com/ksplice-go/ksplice/internal/update"
)

// TestCreateFromSource builds an update from a user's tree (--src): here
// the lab's pristine Debian tree, with the image's config and headers, as
// a user with the running kernel's source would. The update must be the
// one --kernel makes, and the tree must stay untouched.
func TestCreateFromSource(t *testing.T) {
	k := labtest.Kernel(t)
	cache := t.TempDir()
	ks, err := kbuild.FromSource(context.Background(), kbuild.SourceOptions{
		Source: k.Source, Config: k.Config, Headers: k.Headers, CacheDir: cache,
	})
	if err != nil {
		t.Fatal(err)
	}
	if ks.Release != k.Release || ks.Compiler != k.Compiler {
		t.Errorf("from source: release %q compiler %q, want %q %q", ks.Release, ks.Compiler, k.Release, k.Compiler)
	}
	p, err := srcpatch.ParseFile("../../testdata/patches/proc-cmdline-string.diff")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "u.tar")
	kmodSrc, err := FindKmodSrc(os.Getenv("KSPLICE_KMOD_SRC"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Create(context.Background(), Options{Kernel: ks, Patch: p, PatchName: "x.diff", ID: "src", Output: out, KmodSrc: kmodSrc}); err != nil {
		t.Fatal(err)
	}
	u, err := update.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	m := u.Manifest
	if m.Kernel.Release != k.Release || len(m.Targets) != 1 || len(m.Targets[0].Functions) != 1 ||
		m.Targets[0].Functions[0].Name != "cmdline_proc_show" {
		t.Errorf("manifest = %+v", m)
	}
	if _, err := os.Stat(filepath.Join(k.Source, "include", "config")); err == nil {
		t.Error("the source tree was configured in place")
	}
	// A tree built in place is refused: Kbuild cannot build it elsewhere.
	dirty := t.TempDir()
	os.WriteFile(filepath.Join(dirty, "Kbuild"), nil, 0o644)
	os.MkdirAll(filepath.Join(dirty, "include", "config"), 0o755)
	os.WriteFile(filepath.Join(dirty, "include", "config", "auto.conf"), nil, 0o644)
	if _, err := kbuild.FromSource(context.Background(), kbuild.SourceOptions{Source: dirty, Config: k.Config, Headers: k.Headers, CacheDir: cache}); err == nil {
		t.Error("a tree built in place: want a refusal")
	}
}
