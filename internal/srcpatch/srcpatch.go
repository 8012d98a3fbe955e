// Package srcpatch reads unified diffs against a kernel source tree and
// applies them to scratch copies of it.
//
// Parsing uses github.com/bluekeyes/go-gitdiff, which understands both git
// and plain unified diffs; applying uses GNU patch, which tolerates the line
// offsets that backported fixes carry but, with fuzz 0, never changed
// context.
package srcpatch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bluekeyes/go-gitdiff/gitdiff"

	"github.com/ksplice-go/ksplice/internal/run"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

var (
	// ErrEmpty means the input holds no file changes.
	ErrEmpty = errors.New("patch changes no files")
	// ErrDoesNotApply means the patch does not apply to the tree; the
	// *ApplyError says which hunk.
	ErrDoesNotApply = fmt.Errorf("%w: patch does not apply", verdict.ErrRefused)
)

// Change is one file a patch touches, with paths relative to the tree root.
type Change struct {
	Old, New string // "" for a created (Old) or deleted (New) file
}

// Path is the file's path after the patch, or before it for a deletion.
func (c Change) Path() string {
	if c.New != "" {
		return c.New
	}
	return c.Old
}

// Patch is a parsed unified diff.
type Patch struct {
	Raw     []byte
	Strip   int // leading path components to strip, as patch -p
	Changes []Change
	files   []*gitdiff.File
}

// Parse reads a unified diff. Paths stay as written until Resolve strips
// them against a tree.
func Parse(r io.Reader) (*Patch, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	files, _, err := gitdiff.Parse(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse patch: %w", err)
	}
	if len(files) == 0 {
		return nil, ErrEmpty
	}
	for _, f := range files {
		if f.IsBinary {
			return nil, fmt.Errorf("parse patch: %s: binary changes are not supported", f.NewName)
		}
	}
	return &Patch{Raw: raw, files: files}, nil
}

// ParseFile is Parse for a file on disk.
func ParseFile(name string) (*Patch, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return p, nil
}

// Resolve finds how many leading components to strip from the patch's
// paths so that every file it modifies exists in tree (0 for git diffs,
// whose a/ and b/ prefixes the parser already removed; usually 1 for
// diff -u output), and fills in Changes.
func (p *Patch) Resolve(tree string) error {
	for strip := 0; strip <= 3; strip++ {
		changes, ok := p.changes(tree, strip)
		if ok {
			p.Strip, p.Changes = strip, changes
			return nil
		}
	}
	var names []string
	for _, f := range p.files {
		if !f.IsNew {
			names = append(names, f.OldName)
		}
	}
	return fmt.Errorf("%w: the files it changes are not in %s: %s", ErrDoesNotApply, tree, strings.Join(names, ", "))
}

func (p *Patch) changes(tree string, strip int) ([]Change, bool) {
	var out []Change
	for _, f := range p.files {
		var c Change
		var ok bool
		if !f.IsNew {
			if c.Old, ok = stripPath(f.OldName, strip); !ok {
				return nil, false
			}
			if fi, err := os.Stat(filepath.Join(tree, c.Old)); err != nil || !fi.Mode().IsRegular() {
				return nil, false
			}
		}
		if !f.IsDelete {
			if c.New, ok = stripPath(f.NewName, strip); !ok {
				return nil, false
			}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path() < out[j].Path() })
	return out, true
}

func stripPath(name string, n int) (string, bool) {
	parts := strings.Split(path.Clean(name), "/")
	if len(parts) <= n {
		return "", false
	}
	rest := path.Join(parts[n:]...)
	if rest == ".." || strings.HasPrefix(rest, "../") || path.IsAbs(rest) {
		return "", false
	}
	return rest, true
}

// ApplyError is a patch that did not apply, with what patch said about the
// failing hunks.
type ApplyError struct {
	Output string
}

func (e *ApplyError) Error() string {
	return ErrDoesNotApply.Error() + ":\n" + strings.TrimRight(e.Output, "\n")
}

func (e *ApplyError) Unwrap() error { return ErrDoesNotApply }

// Apply applies the patch to the tree at dir, which must be a scratch copy:
// files are replaced, not written in place, so a tree of hard links to a
// pristine one stays pristine. Resolve must have been called.
func (p *Patch) Apply(ctx context.Context, dir string) error {
	if p.Changes == nil {
		return errors.New("apply patch: Resolve first")
	}
	if _, err := exec.LookPath("patch"); err != nil {
		return fmt.Errorf("%w: GNU patch not found (apt-get install patch)", verdict.ErrUnsupported)
	}
	// The parser already dropped git's a/ and b/ prefixes from the names
	// Resolve saw; patch reads the raw names, so find its level by a dry
	// run, preferring the level of kernel diffs.
	var first *ApplyError
	for _, strip := range []int{p.Strip + 1, p.Strip} {
		out, err := p.runPatch(ctx, dir, strip, true)
		if err == nil {
			if out, err = p.runPatch(ctx, dir, strip, false); err != nil {
				return fmt.Errorf("apply patch: dry run passed but patch failed: %v\n%s", err, out)
			}
			return nil
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) { // patch did not run, or was killed
			return fmt.Errorf("apply patch: %w", err)
		}
		if first == nil || strings.Contains(first.Output, "No file to patch") {
			first = &ApplyError{Output: out}
		}
	}
	return first
}

func (p *Patch) runPatch(ctx context.Context, dir string, strip int, dry bool) (string, error) {
	args := []string{fmt.Sprintf("-p%d", strip), "--batch", "--forward", "--fuzz=0",
		"--no-backup-if-mismatch", "--reject-file=-", "-d", dir}
	if dry {
		args = append(args, "--dry-run")
	}
	var out bytes.Buffer
	c := run.New("patch", args...)
	c.Stdin = bytes.NewReader(p.Raw)
	c.Log = &out // all of it, in order: ApplyError shows the failing hunks
	err := c.Run(ctx)
	return out.String(), err
}

// Edit is one file's text before and after a patch, and the lines the
// patch removes from the one and adds to the other (1-based, ascending).
type Edit struct {
	Old, New       []byte
	Removed, Added []int
}

// ErrOffset means a hunk is not where the patch says: GNU patch applies
// it at an offset, but the lines an Edit names would be wrong.
var ErrOffset = errors.New("a hunk applies at an offset")

// Edit returns the edit the patch makes to the file at rel (a path of
// Changes) in tree, without writing anything. Every hunk must apply at the
// lines it names, in order (ErrOffset otherwise). Resolve must have been
// called.
func (p *Patch) Edit(tree, rel string) (*Edit, error) {
	if p.Changes == nil {
		return nil, errors.New("edit: Resolve first")
	}
	var f *gitdiff.File
	for _, g := range p.files {
		name := g.NewName
		if g.IsDelete {
			name = g.OldName
		}
		if s, ok := stripPath(name, p.Strip); ok && s == rel {
			f = g
			break
		}
	}
	if f == nil {
		return nil, fmt.Errorf("edit: the patch does not change %s", rel)
	}
	e := &Edit{}
	if !f.IsNew {
		var err error
		if e.Old, err = os.ReadFile(filepath.Join(tree, rel)); err != nil {
			return nil, fmt.Errorf("edit: %w", err)
		}
	}
	// Applied here, not by gitdiff.Apply, which puts a hunk that only
	// adds lines ("@@ -1,0 +2,2 @@") before the line it names, not after.
	old := splitLines(e.Old)
	var out bytes.Buffer
	next := 0    // the index in old of the next line to copy
	written := 0 // lines of the new text so far
	for _, frag := range f.TextFragments {
		at := int(frag.OldPosition) - 1 // 0-based index of its first line
		if frag.OldLines == 0 {
			at++ // an empty side names the line before it
		}
		if at < next || at > len(old) {
			return nil, fmt.Errorf("edit %s: %w: hunk at line %d", rel, ErrOffset, frag.OldPosition)
		}
		for _, l := range old[next:at] {
			out.WriteString(l)
		}
		written += at - next
		i := at
		for _, l := range frag.Lines {
			switch l.Op {
			case gitdiff.OpContext, gitdiff.OpDelete:
				if i >= len(old) || old[i] != l.Line {
					return nil, fmt.Errorf("edit %s: %w: line %d is not the hunk's", rel, ErrOffset, i+1)
				}
				i++
				if l.Op == gitdiff.OpDelete {
					e.Removed = append(e.Removed, i)
				} else {
					out.WriteString(l.Line)
					written++
				}
			case gitdiff.OpAdd:
				out.WriteString(l.Line)
				written++
				e.Added = append(e.Added, written)
			}
		}
		next = i
	}
	for _, l := range old[next:] {
		out.WriteString(l)
	}
	e.New = out.Bytes()
	sort.Ints(e.Removed)
	sort.Ints(e.Added)
	return e, nil
}

// splitLines splits b after each newline, keeping them, as the lines of a
// hunk are.
func splitLines(b []byte) []string {
	var out []string
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			i = len(b) - 1
		}
		out = append(out, string(b[:i+1]))
		b = b[i+1:]
	}
	return out
}
