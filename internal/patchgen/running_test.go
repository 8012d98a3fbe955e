package patchgen

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

// diffRunning is diffPairArch with the pair's pre object built with the
// kernel's own flags attached (NAME.running.o), as create attaches it.
func diffRunning(t *testing.T, arch, name string) *elfdiff.Result {
	t.Helper()
	res := diffPairArch(t, arch, name)
	f, err := elfdiff.Open(filepath.Join(testdata, arch, name+".running.o"))
	if err != nil {
		t.Fatal(err)
	}
	if err := res.UseRunning(f); err != nil {
		t.Fatal(err)
	}
	return res
}

var oldCodeArray = regexp.MustCompile(`(?s)/\* (\S+): the old code run-pre matching looks for \*/\nstatic const u8 ksplice_old_code_\d+\[\] = \{\n(.*?)\};`)

// oldCode returns the old code tables.c gives each function, by name.
func oldCode(t *testing.T, tables string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, m := range oldCodeArray.FindAllStringSubmatch(tables, -1) {
		var b []byte
		for _, f := range strings.FieldsFunc(m[2], func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\t' }) {
			var x byte
			if _, err := fmt.Sscanf(f, "0x%x", &x); err != nil {
				t.Fatalf("old code of %s: %q: %v", m[1], f, err)
			}
			b = append(b, x)
		}
		out[m[1]] = b
	}
	return out
}

func runningSym(t *testing.T, f *elfdiff.File, name string) *elfdiff.Symbol {
	t.Helper()
	for _, s := range f.Symbols[1:] {
		if s.Name == name && s.Section != nil {
			return s
		}
	}
	t.Fatalf("no symbol %s in the running object", name)
	return nil
}

// TestRunningOldCode: with a running object, the old code run-pre compares
// is the running object's (the kernel's own build), not the section
// build's, and the new code's statics bind through what that old code
// deduces: through the section anchor (arm64: lookup's old code names only
// hits, at .bss+0; misses and table are hits plus their distance in the
// running object's .bss), through the matched function's own address for
// a call the assembler resolved (bucket, in lookup's .text), and through a
// helper for a static no replaced code reaches (hashbits, in .data, which
// resize's and bucket's old code reach).
func TestRunningOldCode(t *testing.T) {
	for _, c := range []struct{ arch, cc string }{{"x86_64", "gcc"}, {"arm64", arm64CC}} {
		t.Run(c.arch, func(t *testing.T) {
			res := diffRunning(t, c.arch, "anchors")
			m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "anchors.o", Result: res}},
				Exported: func(string) bool { return false }})
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			tables := namedOldFuncs(string(m.Files["tables.c"]))
			run := res.Running
			var lookup *elfdiff.Function
			for _, fd := range res.Functions {
				if fd.Name == "lookup" {
					lookup = fd.Running
				}
			}
			code := oldCode(t, tables)
			if got := code["lookup"]; string(got) != string(lookup.Code) {
				t.Errorf("old code of lookup is not the running object's (%d bytes, want %d)", len(got), len(lookup.Code))
			}
			if c.arch == "arm64" && string(code["lookup"]) == string(res.Pre.Functions[1].Code) && res.Pre.Functions[1].Name == "lookup" {
				t.Errorf("old code of lookup is the section build's")
			}
			for _, f := range m.Funcs {
				if f.Name == "lookup" && f.OldSize != lookup.Size {
					t.Errorf("lookup's old size %d, want the running %d", f.OldSize, lookup.Size)
				}
			}
			newRelocs := map[string][]string{}
			for _, l := range strings.Split(tables, "\n") {
				if !strings.Contains(l, ".place =") {
					continue
				}
				var sym, old string
				var addend int64
				if m := regexp.MustCompile(`\.symbol = "([^"]*)", \.old_func = (NULL|"[^"]*"), \.addend = (-?\d+)`).FindStringSubmatch(l); m != nil {
					sym, old = m[1], strings.Trim(m[2], `"`)
					fmt.Sscan(m[3], &addend)
				}
				newRelocs[sym] = append(newRelocs[sym], fmt.Sprintf("%s%+d", old, addend))
			}
			hits := runningSym(t, run, "hits")
			for _, name := range []string{"misses", "table"} {
				if c.arch == "x86_64" {
					// x86-64 has no section anchors: the old code
					// names each static (.bss+OFF).
					for _, b := range newRelocs[name] {
						if !strings.HasPrefix(b, "lookup") {
							t.Errorf("%s bound through %s, want lookup's old code", name, b)
						}
					}
					if len(newRelocs[name]) == 0 {
						t.Errorf("no new relocation binds %s", name)
					}
					continue
				}
				// Through the anchor, which the old code names as
				// hits: their distance in the running .bss.
				s := runningSym(t, run, name)
				want := fmt.Sprintf("lookup%+d", int64(s.Value)-int64(hits.Value))
				if !contains(newRelocs["hits"], want) {
					t.Errorf("%s: new relocations through hits are %v, want %s", name, newRelocs["hits"], want)
				}
				if len(newRelocs[name]) > 0 {
					t.Errorf("%s bound by name (%v): the arm64 old code does not name it", name, newRelocs[name])
				}
			}
			if len(newRelocs["hits"]) == 0 {
				t.Errorf("no new relocation binds through hits: %v", newRelocs)
			}
			// The call to bucket: the matched lookup's own address plus
			// bucket's distance from it in the running .text (the
			// call's addend is 0 on arm64, -4 on x86-64).
			bucket := runningSym(t, run, "bucket")
			callAddend := int64(0)
			if c.arch == "x86_64" {
				callAddend = -4
			}
			want := fmt.Sprintf("lookup%+d", int64(bucket.Value)-int64(lookup.Offset)+callAddend)
			if !contains(newRelocs["lookup"], want) {
				t.Errorf("call to bucket: new relocations through lookup are %v, want %s", newRelocs["lookup"], want)
			}
			for _, b := range newRelocs["hashbits"] {
				if !strings.HasPrefix(b, "helper:resize") && !strings.HasPrefix(b, "helper:bucket") {
					t.Errorf("hashbits bound through %s, want a helper whose old code reads it", b)
				}
			}
			if len(newRelocs["hashbits"]) == 0 {
				t.Errorf("no new relocation binds hashbits")
			}
			f := assembleWith(t, c.cc, m.Files["new.S"])
			f.Close()
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestRunningClones: the new code of first() calls scale.constprop.0, a
// clone of the compiler's making. When the kernel's own build has the same
// functions, the call binds to the running clone (first's old code calls
// it: a relocation, or the same .text); when that build cloned
// differently (clonecall.noipa.o: scale, not scale.constprop.0), the
// running function of that name may take other arguments, and the update
// is refused naming both lists.
func TestRunningClones(t *testing.T) {
	for _, arch := range []string{"x86_64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			res := diffRunning(t, arch, "clonecall")
			m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "clonecall.o", Result: res}},
				Exported: func(string) bool { return false }})
			if err != nil {
				t.Fatalf("Generate with the same clones: %v", err)
			}
			tables := namedOldFuncs(string(m.Files["tables.c"]))
			if !strings.Contains(tables, `.old_func = "first"`) {
				t.Errorf("the call to scale.constprop.0 does not bind through first's old code:\n%s", tables)
			}

			res = diffPairArch(t, arch, "clonecall")
			f, err := elfdiff.Open(filepath.Join(testdata, arch, "clonecall.noipa.o"))
			if err != nil {
				t.Fatal(err)
			}
			if err := res.UseRunning(f); err != nil {
				t.Fatal(err)
			}
			_, err = Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "clonecall.o", Result: res}},
				Exported: func(string) bool { return false }})
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Generate with other clones: %v, want ErrUnsupported", err)
			}
			for _, want := range []string{"scale.constprop.0", "only in the kernel's: scale"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// TestSameNumbering: a name the compiler numbered (limit.0, __warned.3)
// is trusted to mean the same static in both builds only when both have
// the same numbered names of its stem: samestatics.patched has a limit.2
// more than samestatics.orig.
func TestSameNumbering(t *testing.T) {
	open := func(name string) *elfdiff.File {
		f, err := elfdiff.Open(filepath.Join(testdata, "x86_64", name))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	orig, patched := open("samestatics.orig.o"), open("samestatics.patched.o")
	same := &elfdiff.Result{Pre: orig, Running: open("samestatics.orig.o")}
	shifted := &elfdiff.Result{Pre: orig, Running: patched}
	if !sameNumbering(same, "limit.0", nil) || !sameNumbering(same, "__warned.3", nil) {
		t.Errorf("the same object's numbered statics are not trusted")
	}
	if sameNumbering(shifted, "limit.0", nil) {
		t.Errorf("limit.0 trusted although the running object numbers limit.* differently")
	}
	if !sameNumbering(shifted, "guarded", nil) {
		t.Errorf("an unnumbered name is not trusted")
	}
}
