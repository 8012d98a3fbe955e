package delta

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"
)

// Entry is one item of a Debian changelog: an upstream commit's subject
// ("    - nfsd: fix ... (CVE-2026-89699)") or a line of Debian's own
// ("  * ext4: fix NULL folio dereference in mballoc").
type Entry struct {
	Version string   `json:"version"` // the changelog stanza: "6.1.190-1"
	Text    string   `json:"text"`    // the item, continuation lines joined
	CVEs    []string `json:"cves,omitempty"`
}

var (
	stanzaLine = regexp.MustCompile(`^\S+ \(([^)]+)\) `)
	itemLine   = regexp.MustCompile(`^\s+[-*] (.*)$`)
	cveID      = regexp.MustCompile(`CVE-\d{4}-\d{4,}`)
)

// ReadChangelog reads the entries of a changelog.Debian.gz after version
// from up to version to, newest first. It is an error if the changelog
// does not reach back to from: the entries in between would be missing.
func ReadChangelog(name, from, to string) ([]Entry, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("changelog: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("changelog %s: %w", name, err)
	}
	entries, err := ParseChangelog(zr, from, to)
	if err != nil {
		return nil, fmt.Errorf("changelog %s: %w", name, err)
	}
	return entries, nil
}

// ParseChangelog is ReadChangelog for an uncompressed changelog.
func ParseChangelog(r io.Reader, from, to string) ([]Entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var out []Entry
	var cur *Entry
	inRange, sawTo, sawFrom := false, false, false
	version := ""
	flush := func() {
		if cur != nil {
			cur.Text = strings.Join(strings.Fields(cur.Text), " ")
			cur.CVEs = uniq(cveID.FindAllString(cur.Text, -1))
			out = append(out, *cur)
			cur = nil
		}
	}
	for sc.Scan() {
		line := sc.Text()
		if m := stanzaLine.FindStringSubmatch(line); m != nil {
			flush()
			v := m[1]
			version = v
			if v == to {
				sawTo, inRange = true, true
			} else if v == from {
				sawFrom, inRange = true, false
				break
			}
			continue
		}
		if !inRange {
			continue
		}
		if strings.HasPrefix(line, " -- ") {
			flush()
			continue
		}
		if m := itemLine.FindStringSubmatch(line); m != nil {
			flush()
			if strings.HasPrefix(strings.TrimSpace(m[1]), "https://") ||
				strings.HasSuffix(strings.TrimSpace(m[1]), ":") {
				continue // "New upstream stable update:" and its URL
			}
			cur = &Entry{Version: version, Text: m[1]}
			continue
		}
		t := strings.TrimSpace(line)
		switch {
		case t == "" || strings.HasPrefix(t, "[ ") || strings.HasPrefix(t, "https://"):
			flush()
		case cur != nil:
			cur.Text += " " + t
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !sawTo {
		return nil, fmt.Errorf("no entry for %s", to)
	}
	if !sawFrom {
		return nil, fmt.Errorf("no entry for %s after %s: the changelog does not go back that far", from, to)
	}
	return out, nil
}

// Match is a changelog entry matched to a changed file.
type Match struct {
	Entry int  `json:"entry"` // index into the entries
	Sure  bool `json:"sure"`
	// Why says what matched: the subject's prefix names the file, or a
	// function the subject names is in the file's diff.
	Why string `json:"why"`
}

var (
	funcName  = regexp.MustCompile(`\b([A-Za-z_][A-Za-z0-9_]{3,})\(\)`)
	identWord = regexp.MustCompile(`\b[a-z][a-z0-9]*_[a-z0-9_]+\b`)
)

// MatchEntries matches changelog entries to changed files, best effort:
// an entry whose subject names a function (foo()) or an identifier that
// the file's diff contains is a sure match; one whose subject prefix
// ("usb: gadget: f_fs:") names the file's path only is unsure. diff gives a
// file's unified diff, or nil.
func MatchEntries(entries []Entry, files []string, diff func(file string) []byte) map[string][]Match {
	out := map[string][]Match{}
	for i, e := range entries {
		subject := strings.TrimSpace(regexp.MustCompile(`^\[[^\]]*\]\s*`).ReplaceAllString(e.Text, ""))
		// The subsystem tags before the subject proper: "usb: gadget:
		// f_fs: Prevent ..." gives usb, gadget, f_fs. A tag has no space.
		var tokens []string
		parts := strings.Split(subject, ": ")
		rest := subject
		for i, part := range parts[:len(parts)-1] {
			if strings.Contains(strings.TrimSpace(part), " ") {
				break
			}
			for _, t := range strings.FieldsFunc(strings.ToLower(part), func(r rune) bool { return r == '/' || r == ',' }) {
				tokens = append(tokens, normal(strings.TrimSuffix(t, ".c")))
			}
			rest = strings.Join(parts[i+1:], ": ")
		}
		words := map[string]bool{}
		for _, w := range strings.FieldsFunc(strings.ToLower(rest), func(r rune) bool {
			return !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
		}) {
			words[normal(w)] = true
		}
		idents := map[string]bool{}
		for _, m := range funcName.FindAllStringSubmatch(subject, -1) {
			idents[m[1]] = true
		}
		for _, m := range identWord.FindAllString(subject, -1) {
			idents[m] = true
		}
		type cand struct {
			file  string
			score int
			sure  bool
			why   string
		}
		var cands []cand
		for _, f := range files {
			comps := map[string]bool{}
			for _, c := range strings.Split(f, "/") {
				comps[normal(strings.TrimSuffix(strings.TrimSuffix(c, path.Ext(c)), ".c"))] = true
			}
			score := 0
			stem := normal(strings.TrimSuffix(path.Base(f), path.Ext(f)))
			stemHit := false
			for _, t := range tokens {
				if comps[t] {
					score++
					stemHit = stemHit || t == stem
				}
			}
			var why []string
			sure := false
			if d := diff(f); d != nil && len(idents) > 0 {
				for id := range idents {
					if strings.Contains(string(d), id) {
						sure = true
						why = append(why, id+" is in its diff")
						break
					}
				}
			}
			if score > 0 {
				why = append(why, fmt.Sprintf("the subject's prefix names %d of its path's parts", score))
			}
			// The file's own name in the tags, or in the subject
			// with its directory in the tags ("ext4: ... in mballoc").
			if stemHit || score > 0 && words[stem] {
				sure = true
				why = append(why, "the subject names the file")
			}
			if score == 0 && !sure {
				continue
			}
			if score == 0 && sure {
				// An identifier alone, with no path hint, is too weak
				// when it is a common word.
				score = 1
			}
			if sure {
				score += 10
			}
			cands = append(cands, cand{f, score, sure, strings.Join(why, "; ")})
		}
		if len(cands) == 0 {
			continue
		}
		sort.Slice(cands, func(a, b int) bool { return cands[a].score > cands[b].score })
		best := cands[0].score
		var top []cand
		for _, c := range cands {
			if c.score == best {
				top = append(top, c)
			}
		}
		// A prefix that names a directory of many changed files says
		// little about each: keep only the best few, and unsure.
		if len(top) > 6 {
			continue
		}
		for _, c := range top {
			out[c.file] = append(out[c.file], Match{Entry: i, Sure: c.sure && len(top) <= 2, Why: c.why})
		}
	}
	return out
}

// normal folds the spellings of a name in subjects and paths together:
// "f_fs", "f-fs" and "F_FS" are one.
func normal(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "-", "_")
}
