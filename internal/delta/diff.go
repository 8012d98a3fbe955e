package delta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Status says how a file changed between two trees.
type Status string

const (
	Modified Status = "modified"
	Added    Status = "added"
	Removed  Status = "removed"
)

// Change is one file that differs between two trees.
type Change struct {
	Path   string `json:"path"`
	Status Status `json:"status"`
}

// ignoredNames are files of a source package that are not part of the
// kernel's source: the stamp of an extracted cache directory.
var ignoredNames = map[string]bool{".ksplice-complete": true, ".ksplice-touched": true}

// Diff lists every regular file that differs between the trees old and
// new, sorted by path. Symbolic links are compared by target.
func Diff(ctx context.Context, old, new string) ([]Change, error) {
	oldFiles, err := listTree(ctx, old)
	if err != nil {
		return nil, err
	}
	newFiles, err := listTree(ctx, new)
	if err != nil {
		return nil, err
	}
	var out []Change
	for p, oi := range oldFiles {
		ni, ok := newFiles[p]
		if !ok {
			out = append(out, Change{Path: p, Status: Removed})
			continue
		}
		same, err := sameFile(filepath.Join(old, p), filepath.Join(new, p), oi, ni)
		if err != nil {
			return nil, err
		}
		if !same {
			out = append(out, Change{Path: p, Status: Modified})
		}
	}
	for p := range newFiles {
		if _, ok := oldFiles[p]; !ok {
			out = append(out, Change{Path: p, Status: Added})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

func listTree(ctx context.Context, root string) (map[string]fs.FileInfo, error) {
	files := map[string]fs.FileInfo{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return filepath.SkipDir
			}
			return nil
		}
		if ignoredNames[d.Name()] {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = info
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	return files, nil
}

func sameFile(a, b string, ai, bi fs.FileInfo) (bool, error) {
	if ai.Mode().Type() != bi.Mode().Type() {
		return false, nil
	}
	if ai.Mode()&fs.ModeSymlink != 0 {
		ta, err := os.Readlink(a)
		if err != nil {
			return false, err
		}
		tb, err := os.Readlink(b)
		return ta == tb, err
	}
	if ai.Size() != bi.Size() {
		return false, nil
	}
	if os.SameFile(ai, bi) {
		return true, nil
	}
	ab, err := os.ReadFile(a)
	if err != nil {
		return false, err
	}
	bb, err := os.ReadFile(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(ab, bb), nil
}

// Patch returns a unified diff (diff -u, paths a/PATH and b/PATH) of the
// given changed files between the trees old and new, in the order given:
// what `patch -p1` applies to old to make those files as in new.
func Patch(ctx context.Context, old, new string, changes []Change) ([]byte, error) {
	var buf bytes.Buffer
	for _, c := range changes {
		a, b := filepath.Join(old, c.Path), filepath.Join(new, c.Path)
		switch c.Status {
		case Added:
			a = "/dev/null"
		case Removed:
			b = "/dev/null"
		}
		cmd := exec.CommandContext(ctx, "diff", "-u", "--label", "a/"+c.Path, "--label", "b/"+c.Path, a, b)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		var ee *exec.ExitError
		// diff exits 1 when the files differ: that is the answer.
		if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
			return nil, fmt.Errorf("diff %s: %w: %s", c.Path, err, strings.TrimSpace(stderr.String()))
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("diff %s: the trees do not differ there", c.Path)
		}
		if !strings.HasSuffix(string(out), "\n") {
			out = append(out, '\n')
		}
		buf.Write(out)
	}
	return buf.Bytes(), nil
}
