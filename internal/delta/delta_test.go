package delta

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/kbuild"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestDiff lists the files two small trees differ in, and the patch of
// them applies to the old tree to make the new one.
func TestDiff(t *testing.T) {
	old := writeTree(t, map[string]string{
		"kernel/a.c": "int a;\n", "kernel/same.c": "same\n", "fs/gone.c": "x\n", "include/linux/h.h": "#define X 1\n",
	})
	new := writeTree(t, map[string]string{
		"kernel/a.c": "int a = 1;\n", "kernel/same.c": "same\n", "fs/new.c": "y\n", "include/linux/h.h": "#define X 2\n",
	})
	got, err := Diff(context.Background(), old, new)
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{"fs/gone.c", Removed}, {"fs/new.c", Added}, {"include/linux/h.h", Modified}, {"kernel/a.c", Modified},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Diff = %v, want %v", got, want)
	}
	p, err := Patch(context.Background(), old, new, got)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"--- a/kernel/a.c\n+++ b/kernel/a.c\n", "-int a;\n+int a = 1;\n", "+++ b/fs/new.c\n", "--- a/fs/gone.c\n"} {
		if !strings.Contains(string(p), s) {
			t.Errorf("patch lacks %q:\n%s", s, p)
		}
	}
}

// fakeConfig builds the objects in built (object -> module, "" for
// vmlinux) and answers includers from a map.
func fakeConfig(built map[string]string, includers map[string][]string) Config {
	where := func(_ context.Context, obj string) (string, error) {
		if m, ok := built[obj]; ok {
			return m, nil
		}
		return "", fmt.Errorf("%s: %w", obj, kbuild.ErrNotConfigured)
	}
	return Config{Where: where, Includers: func(f string) ([]string, error) { return includers[f], nil }}
}

// TestClassify sorts a synthetic delta: built C into vmlinux and a module,
// a .c #included by a built one (kernel/sched/rt.c), C of another
// architecture, headers and what includes them, and build-only files.
func TestClassify(t *testing.T) {
	changes := []Change{
		{"kernel/sys.c", Modified},
		{"fs/ext4/mballoc.c", Modified},
		{"kernel/sched/rt.c", Modified},
		{"arch/arm64/kernel/setup.c", Modified},
		{"include/linux/sched.h", Modified},
		{"include/linux/unused.h", Modified},
		{"arch/x86/kernel/entry_64.S", Modified},
		{"net/Kconfig", Modified},
		{"tools/perf/builtin-top.c", Modified},
		{"Documentation/x.rst", Modified},
		{"drivers/new.c", Added},
	}
	cfg := fakeConfig(
		map[string]string{"kernel/sys.o": "", "fs/ext4/mballoc.o": "ext4", "kernel/sched/build_policy.o": ""},
		map[string][]string{
			"kernel/sched/rt.c":     {"kernel/sched/build_policy.c"},
			"include/linux/sched.h": {"kernel/sys.c", "kernel/sched/build_policy.c", "kernel/sched/rt.c", "mm/other.c"},
		})
	files, err := Classify(context.Background(), changes, cfg)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]File{}
	for _, f := range files {
		byPath[f.Path] = f
	}
	for path, want := range map[string]struct {
		class          Class
		target, object string
	}{
		"kernel/sys.c":               {Built, "vmlinux", "kernel/sys.o"},
		"fs/ext4/mballoc.c":          {Built, "ext4", "fs/ext4/mballoc.o"},
		"kernel/sched/rt.c":          {Built, "vmlinux", "kernel/sched/build_policy.o"},
		"arch/arm64/kernel/setup.c":  {NotBuilt, "", ""},
		"include/linux/sched.h":      {Header, "", ""},
		"include/linux/unused.h":     {Header, "", ""},
		"arch/x86/kernel/entry_64.S": {BuildOnly, "", ""},
		"net/Kconfig":                {BuildOnly, "", ""},
		"tools/perf/builtin-top.c":   {BuildOnly, "", ""},
		"Documentation/x.rst":        {BuildOnly, "", ""},
		"drivers/new.c":              {NotBuilt, "", ""},
	} {
		f := byPath[path]
		if f.Class != want.class || f.Target != want.target || f.Object != want.object {
			t.Errorf("%s: class %s target %q object %q, want %s %q %q (%s)", path, f.Class, f.Target, f.Object, want.class, want.target, want.object, f.Reason)
		}
	}
	if v := byPath["kernel/sched/rt.c"].Via; v != "kernel/sched/build_policy.c" {
		t.Errorf("rt.c via %q", v)
	}
	if h := byPath["include/linux/sched.h"]; !slices.Equal(h.Users, []string{"kernel/sys.c", "kernel/sched/rt.c"}) || h.Includers != 4 {
		t.Errorf("sched.h users %v includers %d; want the two changed built .c files of 4", h.Users, h.Includers)
	}
	if hs := byPath["kernel/sys.c"].Headers; !slices.Equal(hs, []string{"include/linux/sched.h"}) {
		t.Errorf("sys.c headers %v", hs)
	}
	if n := Counts(files); n[Built] != 3 || n[NotBuilt] != 2 || n[Header] != 2 || n[BuildOnly] != 4 {
		t.Errorf("counts %v", n)
	}
}

// TestClassifyError: a Makefile that cannot be read makes its file
// unknown, with the error, and does not stop the rest.
func TestClassifyError(t *testing.T) {
	cfg := fakeConfig(map[string]string{"kernel/sys.o": ""}, nil)
	inner := cfg.Where
	cfg.Where = func(ctx context.Context, obj string) (string, error) {
		if strings.HasPrefix(obj, "drivers/gpu/") {
			return "", errors.New("read drivers/gpu/Makefile: exit status 2")
		}
		return inner(ctx, obj)
	}
	files, err := Classify(context.Background(), []Change{{"drivers/gpu/x.c", Modified}, {"kernel/sys.c", Modified}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if files[0].Class != Unknown || !strings.Contains(files[0].Reason, "exit status 2") || files[1].Class != Built {
		t.Errorf("got %+v", files)
	}
}

const changelog = `linux (6.1.190-1) bookworm-security; urgency=high

  * New upstream stable update:
    https://www.kernel.org/pub/linux/kernel/v6.x/ChangeLog-6.1.188
    - lib/ucs2_string.c: fix out-of-bounds read in ucs2_strnlen()
      (CVE-2026-89726)
    - usb: gadget: f_fs: Prevent deadlock during ep0 read loop (CVE-2026-89732)
    - nfsd: fix a leak
    - [x86] tdx: Fix off-by-one in port I/O handling (CVE-2026-89751)

  [ Ben Hutchings ]
  * ext4: fix NULL folio dereference in mballoc (Closes: #1154101)

 -- Salvatore Bonaccorso <carnil@debian.org>  Mon, 16 Nov 2026 11:17:40 +0100

linux (6.1.188-1) bookworm-security; urgency=high

  * sched: something in between

 -- Salvatore Bonaccorso <carnil@debian.org>  Mon, 16 Nov 2026 11:17:40 +0100

linux (6.1.187-1) bookworm-security; urgency=high

  * not in the range

 -- Salvatore Bonaccorso <carnil@debian.org>  Mon, 16 Nov 2026 11:17:40 +0100
`

func TestParseChangelog(t *testing.T) {
	es, err := ParseChangelog(strings.NewReader(changelog), "6.1.187-1", "6.1.190-1")
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, e := range es {
		texts = append(texts, e.Version+": "+e.Text)
	}
	want := []string{
		"6.1.190-1: lib/ucs2_string.c: fix out-of-bounds read in ucs2_strnlen() (CVE-2026-89726)",
		"6.1.190-1: usb: gadget: f_fs: Prevent deadlock during ep0 read loop (CVE-2026-89732)",
		"6.1.190-1: nfsd: fix a leak",
		"6.1.190-1: [x86] tdx: Fix off-by-one in port I/O handling (CVE-2026-89751)",
		"6.1.190-1: ext4: fix NULL folio dereference in mballoc (Closes: #1154101)",
		"6.1.188-1: sched: something in between",
	}
	if !slices.Equal(texts, want) {
		t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(texts, "\n"), strings.Join(want, "\n"))
	}
	if !slices.Equal(es[0].CVEs, []string{"CVE-2026-89726"}) || es[2].CVEs != nil {
		t.Errorf("CVEs %v %v", es[0].CVEs, es[2].CVEs)
	}
	if _, err := ParseChangelog(strings.NewReader(changelog), "6.1.170-1", "6.1.190-1"); err == nil {
		t.Error("a changelog that does not reach back to from: no error")
	}
	if _, err := ParseChangelog(strings.NewReader(changelog), "6.1.187-1", "6.1.199-1"); err == nil {
		t.Error("a changelog without to: no error")
	}
}

// TestMatchEntries matches subjects to files by path and by the functions
// they name, and is unsure when only a directory matches.
func TestMatchEntries(t *testing.T) {
	es, err := ParseChangelog(strings.NewReader(changelog), "6.1.187-1", "6.1.190-1")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"lib/ucs2_string.c", "drivers/usb/gadget/function/f_fs.c", "fs/nfsd/nfs4state.c", "fs/ext4/mballoc.c", "arch/x86/coco/tdx/tdx.c", "fs/ext4/inode.c"}
	diffs := map[string]string{"arch/x86/coco/tdx/tdx.c": "@@ handle_in\n- port\n"}
	m := MatchEntries(es, files, func(f string) []byte {
		if d, ok := diffs[f]; ok {
			return []byte(d)
		}
		return []byte{}
	})
	check := func(file string, entry int, sure bool) {
		t.Helper()
		for _, x := range m[file] {
			if x.Entry == entry {
				if x.Sure != sure {
					t.Errorf("%s: entry %d sure=%v, want %v (%s)", file, entry, x.Sure, sure, x.Why)
				}
				return
			}
		}
		t.Errorf("%s: entry %d not matched; got %+v", file, entry, m[file])
	}
	check("lib/ucs2_string.c", 0, true)
	check("drivers/usb/gadget/function/f_fs.c", 1, true)
	check("fs/nfsd/nfs4state.c", 2, false)
	check("arch/x86/coco/tdx/tdx.c", 3, true)
	check("fs/ext4/mballoc.c", 4, true)
	for _, x := range m["fs/ext4/inode.c"] {
		if x.Entry == 4 && x.Sure {
			t.Errorf("inode.c sure of the mballoc entry")
		}
	}
}

func TestSourcePackage(t *testing.T) {
	for v, want := range map[string]string{"6.1.190-1": "linux-source-6.1", "6.12.117-1~deb12u1": "linux-source-6.12"} {
		if got, err := SourcePackage(v); err != nil || got != want {
			t.Errorf("SourcePackage(%s) = %q, %v", v, got, err)
		}
	}
	if _, err := SourcePackage("bookworm"); err == nil {
		t.Error("SourcePackage(bookworm): no error")
	}
}
