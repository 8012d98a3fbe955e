package testutil

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files with the tests' output")

// Golden compares got with the golden file path and reports a line diff
// when they differ; with go test -update it writes got to path instead.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if d := cmp.Diff(lines(want), lines(got)); d != "" {
		t.Errorf("%s differs from the output (-golden +output; go test -update rewrites it):\n%s", path, d)
	}
}

// lines splits b into lines, so that cmp.Diff reports whole lines.
func lines(b []byte) []string {
	return strings.Split(string(b), "\n")
}
