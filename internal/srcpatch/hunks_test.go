package srcpatch

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluekeyes/go-gitdiff/gitdiff"
)

// lines makes a text of n numbered lines.
func lines(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("line %d", i))
	}
	return out
}

func TestHunksSelect(t *testing.T) {
	old := lines(60)
	var nw []string
	for i, l := range old {
		switch i + 1 {
		case 1:
			nw = append(nw, "top 1", "top 2", l) // adds at the top
		case 20:
			nw = append(nw, "twenty a", "twenty b", "twenty c") // replaces one with three
		case 40, 41, 42:
			// removed
		case 58:
			nw = append(nw, l, "after 58")
		default:
			nw = append(nw, l)
		}
	}
	dir := t.TempDir()
	write := func(name string, ls []string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(ls, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := write("old.c", old), write("new.c", nw)
	diff, _ := exec.Command("diff", "-u", "--label", "a/f.c", "--label", "b/f.c", a, b).Output()
	h, err := ParseHunks(diff)
	if err != nil {
		t.Fatal(err)
	}
	if h.Len() != 4 {
		t.Fatalf("%d hunks, want 4:\n%s", h.Len(), diff)
	}
	// Every subset of the hunks: patch applies the selection to the old
	// text with no offset, and each hunk's span there holds its new side
	// if kept, its old side if not.
	for mask := 0; mask < 1<<h.Len(); mask++ {
		var keep []int
		for i := 0; i < h.Len(); i++ {
			if mask&(1<<i) != 0 {
				keep = append(keep, i)
			}
		}
		sel := h.Select(keep)
		if len(keep) == 0 {
			if strings.Contains(string(sel), "@@") {
				t.Errorf("no hunk kept, but:\n%s", sel)
			}
			continue
		}
		work := write("work.c", old)
		cmd := exec.Command("patch", "--fuzz=0", "--no-backup-if-mismatch", work)
		cmd.Stdin = bytes.NewReader(sel)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), "offset") {
			t.Fatalf("keep %v: patch: %v\n%s\n%s", keep, err, out, sel)
		}
		got, _ := os.ReadFile(work)
		text := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
		files, _, err := gitdiff.Parse(bytes.NewReader(diff))
		if err != nil {
			t.Fatal(err)
		}
		spans := h.Spans(keep)
		selFiles, _, err := gitdiff.Parse(bytes.NewReader(sel))
		if err != nil {
			t.Fatal(err)
		}
		for k, f := range selFiles[0].TextFragments {
			if sp := spans[keep[k]]; int(f.NewPosition+f.LeadingContext) != sp.First {
				t.Errorf("keep %v: hunk %d says it starts at new line %d, but is at %d", keep, keep[k], f.NewPosition, sp.First)
			}
		}
		for i, sp := range spans {
			var want []string
			for _, l := range files[0].TextFragments[i].Lines {
				if l.Op != gitdiff.OpContext && (l.Op == gitdiff.OpAdd) == (mask&(1<<i) != 0) {
					want = append(want, strings.TrimSuffix(l.Line, "\n"))
				}
			}
			if g := text[sp.First-1 : sp.Last]; strings.Join(g, "|") != strings.Join(want, "|") {
				t.Errorf("keep %v: hunk %d at %v holds %q, want %q", keep, i, sp, g, want)
			}
		}
	}
	if got := h.Added(1); strings.Join(got, "|") != "twenty a|twenty b|twenty c" {
		t.Errorf("Added(1) = %q", got)
	}
}

func TestParseHunksRefuses(t *testing.T) {
	for _, d := range []string{"", "not a diff\n", "--- a/x\n+++ b/x\n--- a/y\n+++ b/y\n"} {
		if _, err := ParseHunks([]byte(d)); err == nil {
			t.Errorf("ParseHunks(%q) took it", d)
		}
	}
}
