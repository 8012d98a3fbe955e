package upgrade

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/bluekeyes/go-gitdiff/gitdiff"

	"github.com/ksplice-go/ksplice/internal/cdecl"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// lacking matches gcc's errors about a name the text does not declare.
var lacking = regexp.MustCompile(`error: .*(?:undeclared|implicit declaration of function|unknown type name)`)

// trimFiles is the joint update again, after a refusal (not of its build)
// in the objects of some of its files only, with those files carried in
// part: at first none of their hunks, then those the compiler leads to
// (neededHunks), as the joint update's builds fail in them. A release's
// diff of one file can hold several fixes, and a joint update takes a file
// in for one of them: 6.1.190 changes the signature of
// inet_connection_sock_af_ops's syn_recv_sock in every file that calls or
// implements it, and net/mptcp/subflow.c, one of them, also gains a fix
// that needs a new bit of struct mptcp_subflow_context, a layout the
// running kernel's objects do not have.
//
// Files of whole, carried alone, are not cut, nor is every file: ok is
// false then, or when a refused object is none of its files' (a refusal
// in an object only a header reaches is the header's, which some file
// needs whole).
func (u *upgrader) trimFiles(joint Group, refusal Outcome, whole []string) (g Group, objects []string, ok bool) {
	objects = refusal.RefusedIn
	if refusal.Category != Refused || len(objects) == 0 {
		return joint, nil, false
	}
	trim := map[string][]int{}
	for _, o := range objects {
		var files []string
		for _, f := range joint.Files {
			if u.objectOf(f) == o {
				files = append(files, f)
			}
		}
		if len(files) == 0 || slices.ContainsFunc(files, func(f string) bool { return contains(whole, f) }) {
			return joint, nil, false
		}
		for _, f := range files {
			trim[f] = []int{}
		}
	}
	if len(trim) == len(joint.Files) {
		return joint, nil, false
	}
	g = joint
	g.Files = slices.DeleteFunc(slices.Clone(joint.Files), func(f string) bool { _, ok := trim[f]; return ok })
	g.Partial = maps.Clone(joint.Partial)
	if g.Partial == nil {
		g.Partial = map[string][]int{}
	}
	maps.Copy(g.Partial, trim)
	return g, objects, true
}

// withHunks adds the hunks of more to those of partial, in a new map.
func withHunks(partial, more map[string][]int) map[string][]int {
	out := map[string][]int{}
	for f, keep := range partial {
		out[f] = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(keep), more[f]...))))
	}
	return out
}

// objectOf is the object that holds a changed file's code.
func (u *upgrader) objectOf(file string) string {
	if o := u.objects[file]; o != "" {
		return o
	}
	return strings.TrimSuffix(file, ".c") + ".o"
}

// partsLine says which hunks of each file a group takes: "net/mptcp/subflow.c hunks 2,3".
func partsLine(partial map[string][]int) string {
	var out []string
	for _, f := range slices.Sorted(maps.Keys(partial)) {
		out = append(out, f+" hunks "+hunkList(partial[f]))
	}
	return strings.Join(out, "; ")
}

// neededHunks returns, for each file carried in part (partial: the hunks
// it takes), the hunks more that the diagnostics of buildErr in it lead
// to; none if they lead to no hunk not taken yet. The hunks are found from
// the file's old text, by the compiler: for each error or note in it, the
// hunks in the definition it is in, in the definitions of the functions
// its line names (an initializer of the wrong type: the function's new
// signature), and those whose added lines name what it says is not
// declared (a parameter the hunk adds). A hunk no diagnostic leads to is
// not taken: that the file builds with it is no reason, as it may be half
// of a fix whose other half was left out.
func (u *upgrader) neededHunks(ctx context.Context, partial map[string][]int, buildErr string) map[string][]int {
	type text struct {
		h     *srcpatch.Hunks
		spans []srcpatch.Span
		decls []cdecl.Decl
		toks  []cdecl.Token
	}
	texts := map[string]*text{}
	load := func(f string) *text {
		if t, ok := texts[f]; ok {
			return t
		}
		texts[f] = nil
		h, err := srcpatch.ParseHunks(u.diffOf(ctx, f))
		if err != nil {
			return nil
		}
		src, err := u.partialText(ctx, f, h, partial[f])
		if err != nil {
			return nil
		}
		t := &text{h: h, spans: h.Spans(partial[f]), decls: cdecl.Scan(src), toks: cdecl.Tokens(src)}
		texts[f] = t
		return t
	}
	more := map[string][]int{}
	add := func(f string, i int) {
		if !slices.Contains(partial[f], i) && !slices.Contains(more[f], i) {
			more[f] = append(more[f], i)
		}
	}
	take := func(f string, t *text, first, last int) {
		for i, sp := range t.spans {
			// A hunk that only adds, not applied, is at the line
			// its lines would go before.
			if sp.First <= last && first <= max(sp.Last, sp.First) {
				add(f, i)
			}
		}
	}
	for _, line := range strings.Split(buildErr, "\n") {
		m := located.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := m[1]
		if _, ok := partial[f]; !ok {
			continue
		}
		t := load(f)
		if t == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		// The definition the diagnostic is in.
		first, last := n, n
		for _, d := range t.decls {
			if d.First <= n && n <= d.Last && d.Kind != cdecl.Directive {
				first, last = d.First, d.Last
				break
			}
		}
		take(f, t, first, last)
		// The definitions of the functions its line names.
		for _, tok := range t.toks {
			if tok.Line != n {
				continue
			}
			for _, d := range t.decls {
				if d.Kind == cdecl.Function && d.Body && d.Name == tok.Name {
					take(f, t, d.First, d.Last)
				}
			}
		}
		// A name the text lacks ("'opt_child_init' undeclared"):
		// the hunks whose added lines name it.
		if lacking.MatchString(line) {
			for _, q := range quoted.FindAllStringSubmatch(line, -1) {
				for i := range t.spans {
					if slices.ContainsFunc(t.h.Added(i), func(l string) bool { return slices.Contains(word.FindAllString(l, -1), q[1]) }) {
						add(f, i)
					}
				}
			}
		}
	}
	for f := range more {
		slices.Sort(more[f])
	}
	return more
}

// partialText is the old text of file with the hunks keep names applied:
// the text the build of a group carrying it in part compiles.
func (u *upgrader) partialText(ctx context.Context, file string, h *srcpatch.Hunks, keep []int) ([]byte, error) {
	old, err := os.ReadFile(filepath.Join(u.old, file))
	if err != nil {
		return nil, err
	}
	if len(keep) == 0 {
		return old, nil
	}
	files, _, err := gitdiff.Parse(bytes.NewReader(h.Select(keep)))
	if err != nil {
		return nil, err
	}
	if len(files) != 1 {
		return nil, fmt.Errorf("%s: %d files in its diff", file, len(files))
	}
	var out bytes.Buffer
	if err := gitdiff.Apply(&out, bytes.NewReader(old), files[0]); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return out.Bytes(), nil
}

// partOutcome is the outcome of a group whose files the carried joint
// update carries in part: the refusal of the whole of their change (full,
// the joint update's with them whole), and where the part is.
func partOutcome(g Group, full Outcome, joint Group) Outcome {
	var parts []string
	for _, f := range g.Files {
		parts = append(parts, fmt.Sprintf("%s: hunks %s", f, hunkList(joint.Partial[f])))
	}
	return Outcome{
		Group: g, Category: Refused, Rule: full.Rule, Hint: full.Hint, Headers: full.Headers, WithHeaders: full.WithHeaders,
		Reason: fmt.Sprintf("%s\n(the update of it with %s, whose changes it must go with)\nthe part of its change that they cannot build without (%s of its release diff) is carried in %s",
			full.Reason, strings.Join(joint.Files, ", "), strings.Join(parts, "; "), joint.ID),
	}
}

// hunkList is "2,3" for hunks 1 and 2 (from 0), "none" for none.
func hunkList(keep []int) string {
	var ns []string
	for _, i := range keep {
		ns = append(ns, strconv.Itoa(i+1))
	}
	if len(ns) == 0 {
		return "none"
	}
	return strings.Join(ns, ",")
}
