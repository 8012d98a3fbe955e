package srcpatch

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/bluekeyes/go-gitdiff/gitdiff"
)

// Hunks is the unified diff of one file taken hunk by hunk: a release's
// diff of a file can hold several fixes, and an update may need only some
// of them (the hunks another change of the release cannot build without).
type Hunks struct {
	header string // the diff's lines before its first hunk
	frags  []*gitdiff.TextFragment
}

// ParseHunks reads a unified diff of one text file.
func ParseHunks(diff []byte) (*Hunks, error) {
	files, _, err := gitdiff.Parse(bytes.NewReader(diff))
	if err != nil {
		return nil, err
	}
	if len(files) != 1 || files[0].IsBinary || len(files[0].TextFragments) == 0 {
		return nil, fmt.Errorf("not the diff of one text file: %d files", len(files))
	}
	i := bytes.Index(diff, []byte("\n@@ "))
	if i < 0 {
		return nil, fmt.Errorf("no hunk header")
	}
	return &Hunks{header: string(diff[:i+1]), frags: files[0].TextFragments}, nil
}

// Len is the number of hunks.
func (h *Hunks) Len() int { return len(h.frags) }

// Select returns the diff with only the hunks keep names (indices from
// 0), the new side's line numbers of each counted without the hunks left
// out: the diff from the old text to the old text with those hunks
// applied. It panics on an index out of range.
func (h *Hunks) Select(keep []int) []byte {
	if len(keep) > 0 && (slices.Max(keep) >= len(h.frags) || slices.Min(keep) < 0) {
		panic(fmt.Sprintf("srcpatch: hunks %v of %d", keep, len(h.frags)))
	}
	var b strings.Builder
	b.WriteString(h.header)
	shift := int64(0)
	for i, f := range h.frags {
		if !slices.Contains(keep, i) {
			continue
		}
		c := *f
		c.NewPosition = f.OldPosition + shift
		if f.OldLines == 0 {
			// A hunk that only adds, at the top of the file, is "-0,0".
			c.NewPosition = f.OldPosition + shift + 1
		}
		shift += f.NewLines - f.OldLines
		b.WriteString(c.String())
	}
	return []byte(b.String())
}

// Span is where a hunk's changed lines are in a text (from 1, both ends
// included), its context left out: the lines it adds if it is applied
// there, else those it removes. A hunk that has none of those there (it
// only adds, and is not applied) has Last = First-1, First the line
// before which its lines would go.
type Span struct{ First, Last int }

// Spans returns where each hunk is in the old text with only the hunks
// keep names applied (the text Select(keep) makes).
func (h *Hunks) Spans(keep []int) []Span {
	out := make([]Span, len(h.frags))
	shift := int64(0)
	for i, f := range h.frags {
		n := f.OldLines
		start := f.OldPosition + shift
		if slices.Contains(keep, i) {
			n = f.NewLines
			shift += f.NewLines - f.OldLines
		}
		if f.OldLines == 0 {
			start++
		}
		out[i] = Span{First: int(start + f.LeadingContext), Last: int(start + n - f.TrailingContext - 1)}
	}
	return out
}

// Added returns the lines a hunk adds, without their "+".
func (h *Hunks) Added(i int) []string {
	var out []string
	for _, l := range h.frags[i].Lines {
		if l.Op == gitdiff.OpAdd {
			out = append(out, strings.TrimSuffix(l.Line, "\n"))
		}
	}
	return out
}
