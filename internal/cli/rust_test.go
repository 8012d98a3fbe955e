package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
	"github.com/ksplice-go/ksplice/internal/testutil"
	"github.com/ksplice-go/ksplice/internal/update"
)

const rustTestdata = "../../testdata/rust"

var buildRustObjects = sync.OnceValue(func() error { return testutil.Make(rustTestdata) })

// TestDiffRust diffs the Rust pair of testdata/rust, built by Debian's
// rustc with each symbol mangling: the report names the functions
// demangled, and --json keeps each raw name as "mangled".
func TestDiffRust(t *testing.T) {
	if err := buildRustObjects(); err != nil {
		t.Fatal(err)
	}
	const (
		width = "kcmdline::cmdline::Cmdline::width"
		show  = "<kcmdline::cmdline::Cmdline as kcmdline::cmdline::Show>::show"
		same  = "kcmdline::cmdline::unchanged"
	)
	for _, tc := range []struct {
		mangling, prefix string
		width            string // v0 shows an inherent impl's path as <Type>::f
	}{
		{"legacy", "_ZN", width},
		{"v0", "_R", "<kcmdline::cmdline::Cmdline>::width"},
	} {
		t.Run(tc.mangling, func(t *testing.T) {
			pre := filepath.Join(rustTestdata, tc.mangling, "cmdline.orig.o")
			post := filepath.Join(rustTestdata, tc.mangling, "cmdline.patched.o")
			run := func(args ...string) string {
				t.Helper()
				var out, errOut bytes.Buffer
				code := Main(append([]string{"diff"}, args...), Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
				// rustc built these without ftrace sites (the kernel's
				// Rust code has none either): the changed functions take
				// a direct jump (see the --json check below).
				if code != ExitOK {
					t.Fatalf("ksplice diff %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, ExitOK, out.String(), errOut.String())
				}
				return out.String()
			}

			out := run("--all", pre, post)
			for _, want := range []string{
				"* func  changed    " + tc.width + " ",
				"* func  changed    " + show + "  ",
				"  func  unchanged  " + same + " ",
				"carry: 2 functions (" + tc.width + ", " + show + ")",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("report lacks %q:\n%s", want, out)
				}
			}

			var res struct {
				Functions []struct {
					Name, Mangled, Section, Status string
					Jump                           *elfdiff.JumpWindow
				}
				Carry struct{ Functions []string }
			}
			js := run("--json", pre, post)
			if err := json.Unmarshal([]byte(js), &res); err != nil {
				t.Fatalf("--json: %v\n%s", err, js)
			}
			got := map[string]string{} // name -> status
			for _, f := range res.Functions {
				got[f.Name] = f.Status
				if (f.Status == "changed") != (f.Jump != nil) {
					t.Errorf("%s (%s): jump window %+v: want one exactly for changed functions", f.Name, f.Status, f.Jump)
				}
				// The raw name is the symbol's, which names its section.
				if !strings.HasPrefix(f.Mangled, tc.prefix) || f.Section != ".text."+f.Mangled {
					t.Errorf("%s: mangled %q, section %q: want the raw %s... symbol of the section", f.Name, f.Mangled, f.Section, tc.prefix)
				}
			}
			want := map[string]string{tc.width: "changed", show: "changed", same: "unchanged"}
			if len(got) != len(want) {
				t.Errorf("functions %v, want %v", got, want)
			}
			for n, s := range want {
				if got[n] != s {
					t.Errorf("function %q: status %q, want %q (all: %v)", n, got[n], s, got)
				}
			}
			if c := strings.Join(res.Carry.Functions, ", "); c != tc.width+", "+show {
				t.Errorf("carry %q, want %q", c, tc.width+", "+show)
			}
		})
	}
}

// TestInspectRust inspects an update that carries the Rust pair (v0
// mangling): the manifest's functions and --explain's are demangled, and
// --json keeps the raw names.
func TestInspectRust(t *testing.T) {
	if err := buildRustObjects(); err != nil {
		t.Fatal(err)
	}
	pre, err := os.ReadFile(filepath.Join(rustTestdata, "v0", "cmdline.orig.o"))
	if err != nil {
		t.Fatal(err)
	}
	post, err := os.ReadFile(filepath.Join(rustTestdata, "v0", "cmdline.patched.o"))
	if err != nil {
		t.Fatal(err)
	}
	const shown = "<kcmdline::cmdline::Cmdline as kcmdline::cmdline::Show>::show"
	// The raw name, whose crate hash depends on the rustc that built it.
	f, err := elfdiff.NewFile(bytes.NewReader(post))
	if err != nil {
		t.Fatal(err)
	}
	var raw string
	for _, fn := range f.Functions {
		if elfdiff.Display(fn.Name) == shown {
			raw = fn.Name
		}
	}
	if !strings.HasPrefix(raw, "_R") {
		t.Fatalf("no v0-mangled function %s in the post object", shown)
	}
	m := &update.Manifest{ID: "rust", Description: "rust", Core: "ksplice.ko",
		Kernel: update.Kernel{Release: "6.1.0-55-amd64", Machine: "x86_64"},
		Targets: []update.Target{{Name: "vmlinux", Module: "ksplice_rust_vmlinux.ko", Objects: []string{"rust/kcmdline.o"},
			Functions: []update.Function{{Name: raw, Object: "rust/kcmdline.o", Status: "changed", OldSize: 1, NewSize: 2}}}}}
	tar := filepath.Join(t.TempDir(), "ksplice-rust.tar")
	var b bytes.Buffer
	if err := update.Write(&b, m, map[string][]byte{
		"ksplice.ko": []byte("engine"), "ksplice_rust_vmlinux.ko": []byte("update"),
		"objects/pre/rust/kcmdline.o": pre, "objects/post/rust/kcmdline.o": post,
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tar, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	inspect := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := Main(append([]string{"inspect"}, args...), Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}); code != ExitOK {
			t.Fatalf("ksplice inspect %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errOut.String())
		}
		return out.String()
	}
	out := inspect("--explain", tar)
	for _, want := range []string{"  replace " + shown + " (rust/kcmdline.o) 1 -> 2 bytes", "* changed " + shown + ": "} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect --explain lacks %q:\n%s", want, out)
		}
	}
	js := inspect("--json", "--explain", tar)
	var res struct {
		Manifest update.Manifest
		Explain  map[string]struct {
			Functions []struct{ Name, Mangled string }
		}
	}
	if err := json.Unmarshal([]byte(js), &res); err != nil {
		t.Fatalf("--json: %v\n%s", err, js)
	}
	if n := res.Manifest.Targets[0].Functions[0].Name; n != raw {
		t.Errorf("manifest function %q, want the raw %q", n, raw)
	}
	found := false
	for _, f := range res.Explain["rust/kcmdline.o"].Functions {
		found = found || f.Name == shown && f.Mangled == raw
	}
	if !found {
		t.Errorf("--json explain lacks {name %q, mangled %q}:\n%s", shown, raw, js)
	}
}
