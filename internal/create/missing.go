package create

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ksplice-go/ksplice/internal/srcpatch"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// ErrMissingSymbol means the new code refers to a symbol the running
// kernel does not have and the update does not add: the engine could not
// resolve it, and would reject the update when it is applied.
var ErrMissingSymbol = fmt.Errorf("%w: the new code needs a symbol the running kernel does not have", verdict.ErrRefused)

// missingSymbol returns the first of names (symbols the engine finds by
// name in kallsyms) that the running kernel surely lacks, with the
// header that declares it, or "" for none. Surely: a line the patch adds
// to a header names it, the header's pristine text does not, and no file
// of the kernel's pristine source does. A name made by pasting tokens
// (__tracepoint_x) is not in the patch's text either, and is never taken
// for missing.
func missingSymbol(ctx context.Context, pristine string, p *srcpatch.Patch, names []string) (name, header string, err error) {
	// A function the patch takes out of line: its header loses a
	// static inline definition of it and gains a line naming it
	// otherwise (a prototype). The running kernel has at most local
	// copies of the inline (6.1.190's inet_csk_prepare_for_destroy_sock(),
	// defined in inet_connection_sock.c after it).
	// The prototype may go to another header than the one the inline
	// leaves.
	var removed, added []byte
	for _, text := range changedHeaderLines(p.Raw, '-') {
		removed = append(removed, text...)
	}
	headerOf := map[string]string{}
	for h, text := range changedHeaderLines(p.Raw, '+') {
		added = append(added, text...)
		for _, n := range names {
			if _, ok := headerOf[n]; !ok && hasWord(text, n) {
				headerOf[n] = h
			}
		}
	}
	for _, n := range names {
		if h, ok := headerOf[n]; ok && inlineDefinition(removed, n) && !inlineDefinition(added, n) {
			return n, h, nil
		}
	}
	// The candidates: named by a line the patch adds to a header, not
	// by the header's pristine text.
	cand := map[string]string{}
	for h, added := range changedHeaderLines(p.Raw, '+') {
		before, _ := os.ReadFile(filepath.Join(pristine, h))
		for _, n := range names {
			if _, ok := cand[n]; !ok && hasWord(added, n) && !hasWord(before, n) {
				cand[n] = h
			}
		}
	}
	if len(cand) == 0 {
		return "", "", nil
	}
	// Then the whole pristine source: a name it has anywhere (a static
	// function, a global declared in a .c file) may be in the running
	// kernel, and the engine decides.
	err = filepath.WalkDir(pristine, func(path string, d fs.DirEntry, err error) error {
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
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for n := range cand {
			if hasWord(b, n) {
				delete(cand, n)
			}
		}
		if len(cand) == 0 {
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		return "", "", fmt.Errorf("look for the new code's symbols in the kernel's source: %w", err)
	}
	for _, n := range names { // in names' order
		if h, ok := cand[n]; ok {
			return n, h, nil
		}
	}
	return "", "", nil
}

// changedHeaderLines maps each header a unified diff changes to the
// lines it adds there (sign '+') or removes (sign '-').
func changedHeaderLines(diff []byte, sign byte) map[string][]byte {
	out := map[string][]byte{}
	file := ""
	for _, line := range bytes.Split(diff, []byte("\n")) {
		switch {
		case bytes.HasPrefix(line, []byte("+++ ")):
			name := strings.TrimSpace(string(line[4:]))
			name, _, _ = strings.Cut(name, "\t")
			name = strings.TrimPrefix(name, "b/")
			file = ""
			if strings.HasSuffix(name, ".h") {
				file = name
			}
		case bytes.HasPrefix(line, []byte("--- ")), bytes.HasPrefix(line, []byte("diff ")):
			file = ""
		case file != "" && len(line) > 0 && line[0] == sign:
			out[file] = append(append(out[file], line[1:]...), '\n')
		}
	}
	return out
}

// inlineDefinition reports whether text starts an inline function's
// definition of name, on one line or more ("static inline void\nname(").
func inlineDefinition(text []byte, name string) bool {
	// "inline", "__inline__", "__always_inline" (a macro of the kernel).
	re := regexp.MustCompile(`inline(?:__)?\b[^;{}()#]*[\s*]` + regexp.QuoteMeta(name) + `\s*\(`)
	return re.Match(text)
}

// hasWord reports whether text names word: as a whole identifier.
func hasWord(text []byte, word string) bool {
	w := []byte(word)
	for i := 0; ; {
		j := bytes.Index(text[i:], w)
		if j < 0 {
			return false
		}
		at := i + j
		end := at + len(w)
		if (at == 0 || !isIdentByte(text[at-1])) && (end == len(text) || !isIdentByte(text[end])) {
			return true
		}
		i = at + 1
	}
}

func isIdentByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
