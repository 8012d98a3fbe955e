package cli

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ksplice-go/ksplice/internal/testutil"
)

const elfdiffTestdata = "../../testdata/elfdiff"

var buildElfdiffObjects = sync.OnceValue(func() error { return testutil.Make(elfdiffTestdata) })

func diffObjects(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if err := buildElfdiffObjects(); err != nil {
		t.Fatal(err)
	}
	for i, a := range args {
		if strings.HasSuffix(a, ".o") {
			args[i] = filepath.Join(elfdiffTestdata, a)
		}
	}
	var out, errOut bytes.Buffer
	code = Main(append([]string{"diff"}, args...), Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return out.String(), errOut.String(), code
}

func TestDiffCmd(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string // substrings
		stderr   string
		jsonWant string // a function carried, with --json
	}{
		{name: "changed", args: []string{"x86_64/body.orig.o", "x86_64/body.patched.o"}, code: ExitOK,
			stdout: []string{"changed", "scale", "carry: 1 functions (scale)"}},
		{name: "author macros", args: []string{"arm64/authored.orig.o", "arm64/authored.patched.o"}, code: ExitOK,
			stdout: []string{"hook: load on_load", "hook: pre_patch before", "ignored: function noisy", "ignored: section .text.skipped", "force-unsafe: report (not honoured"}},
		{name: "json", args: []string{"--json", "arm64/newfunc.orig.o", "arm64/newfunc.patched.o"}, code: ExitOK,
			jsonWant: "helper"},
		{name: "refused after the report", args: []string{"x86_64/data.orig.o", "x86_64/data.patched.o"}, code: ExitRefused,
			stdout: []string{"weigh", "refused: limit [data-changed]", "refused: primes [rodata-changed]"}, stderr: "update refused"},
		{name: "arch mismatch", args: []string{"x86_64/body.orig.o", "arm64/body.patched.o"}, code: ExitRefused,
			stderr: "objects of different architectures"},
		{name: "no function sections", args: []string{"arm64/nosections.orig.o", "arm64/body.patched.o"}, code: ExitRefused,
			stderr: "-ffunction-sections"},
		{name: "not an object", args: []string{"diff.go", "diff.go"}, code: ExitError, stderr: "load pre: diff.go: malformed ELF"},
		{name: "one argument", args: []string{"x86_64/body.orig.o"}, code: ExitUsage, stderr: "accepts 2 arg(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := diffObjects(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			if !strings.Contains(errOut, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, errOut)
			}
			if tt.jsonWant != "" {
				var res struct {
					Arch  string
					Carry struct{ Functions []string }
				}
				if err := json.Unmarshal([]byte(out), &res); err != nil {
					t.Fatalf("--json output: %v\n%s", err, out)
				}
				if res.Arch != "arm64" || !strings.Contains(strings.Join(res.Carry.Functions, " "), tt.jsonWant) {
					t.Errorf("--json: arch %q carry %q, want arm64 and %q", res.Arch, res.Carry.Functions, tt.jsonWant)
				}
			}
		})
	}
}
