package upgrade

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/renameio/v2"

	"github.com/ksplice-go/ksplice/internal/delta"
)

// Category is what became of a changed file: every file of the delta is
// in exactly one.
type Category string

const (
	// Carried: an update replaces the functions the change touches.
	Carried Category = "carried"
	// Refused: the change needs an update that create refused; the rule
	// and what the author can do say why.
	Refused Category = "refused"
	// NotBuilt: C code this kernel's configuration does not build.
	NotBuilt Category = "not-built"
	// InitOnly: the change touches only code or data that ran at boot.
	InitOnly Category = "init-only"
	// BuildOnly: assembly, build files, documentation, tools, headers
	// that no .c file includes, and changes that alter no object code.
	BuildOnly Category = "build-only"
	// NotTried: an update was not tried, because the run was limited
	// (--targets, --plan); only such runs have files in it.
	NotTried Category = "not-tried"
)

// Categories lists the categories in the order reports show them.
var Categories = []Category{Carried, Refused, InitOnly, NotBuilt, BuildOnly, NotTried}

// FileReport is what became of one changed file.
type FileReport struct {
	Path     string   `json:"path"`
	Status   string   `json:"status"`
	Class    string   `json:"class"` // delta's class
	Category Category `json:"category"`
	Target   string   `json:"target,omitempty"`
	// Object is the object that holds a built file's code: its own, or
	// that of the .c file that includes it (delta.File.Object).
	Object string `json:"object,omitempty"`
	// Update is the id of the update that carries (or would carry) it.
	Update    string   `json:"update,omitempty"`
	Functions []string `json:"functions,omitempty"`
	Rule      string   `json:"rule,omitempty"`
	Reason    string   `json:"reason,omitempty"`
	Hint      string   `json:"hint,omitempty"`
	// Changelog are the changelog entries matched to the file, with the
	// CVE ids they name.
	Changelog []FileEntry `json:"changelog,omitempty"`
	CVEs      []string    `json:"cves,omitempty"`
}

// FileEntry is a changelog entry matched to a file.
type FileEntry struct {
	Text string `json:"text"`
	Sure bool   `json:"sure"`
	Why  string `json:"why"`
}

// Summary counts the report.
type Summary struct {
	Files      int              `json:"files"`
	ByCategory map[Category]int `json:"by_category"`
	// BuiltC are the changed .c files this configuration builds, BuiltIn
	// those of them in vmlinux; Needing are those that need an update
	// (carried or refused), NeedingBuiltIn those in vmlinux, and
	// CarriedBuiltIn how many of those were carried: the fraction of
	// fixes to built-in C that became updates with no hand-written code.
	BuiltC         int `json:"built_c"`
	BuiltIn        int `json:"built_in_c"`
	NeedingBuiltIn int `json:"needing_built_in_c"`
	CarriedBuiltIn int `json:"carried_built_in_c"`
	Updates        int `json:"updates"`
	UpdatesCarried int `json:"updates_carried"`
	CVEs           int `json:"cves"`
	CVEsCarried    int `json:"cves_carried"`
	// CVEsPartly are CVEs of which some files are carried and some not.
	CVEsPartly int `json:"cves_partly"`
}

func (s Summary) carriedFiles() int { return s.ByCategory[Carried] }
func (s Summary) neededFiles() int  { return s.ByCategory[Carried] + s.ByCategory[Refused] }

// Report is what create --upgrade-to made, file by file.
type Report struct {
	Kernel     string        `json:"kernel"`  // "debian:6.1.0-53-amd64"
	Release    string        `json:"release"` // its uname -r
	Package    string        `json:"package"` // "linux-source-6.1"
	From       string        `json:"from"`
	To         string        `json:"to"`
	Tool       string        `json:"tool"`
	Created    time.Time     `json:"created"`
	Seconds    float64       `json:"seconds"`
	Summary    Summary       `json:"summary"`
	Files      []FileReport  `json:"files"`
	Updates    []Outcome     `json:"updates"`
	Cumulative *Outcome      `json:"cumulative,omitempty"`
	Changelog  []delta.Entry `json:"changelog"`
	Notes      []string      `json:"notes,omitempty"`
}

// fill makes a FileReport of every changed file from its class and the
// outcome of its group.
func (r *Report) fill(files []delta.File, groups []Group, results []Outcome) {
	byFile := map[string]*Outcome{}
	for i := range results {
		for _, f := range results[i].Group.Files {
			byFile[f] = &results[i]
		}
	}
	r.Updates = results
	for _, f := range files {
		fr := FileReport{Path: f.Path, Status: string(f.Status), Class: string(f.Class), Target: f.Target, Object: f.Object, Reason: f.Reason}
		oc := byFile[f.Path]
		switch {
		case oc != nil:
			fr.Category, fr.Update, fr.Rule, fr.Hint = oc.Category, oc.Group.ID, oc.Rule, oc.Hint
			if oc.Reason != "" {
				fr.Reason = oc.Reason
			}
			for _, fn := range oc.Functions {
				if f.Object == "" || strings.Contains(fn, "("+f.Object+",") {
					fr.Functions = append(fr.Functions, fn)
				}
			}
			if oc.Category == Carried && len(fr.Functions) == 0 {
				fr.Functions = oc.Functions
			}
		case f.Class == delta.NotBuilt:
			fr.Category = NotBuilt
		case f.Class == delta.Header && f.Status == delta.Added:
			fr.Category = BuildOnly
		case f.Class == delta.Header:
			fr.Category, fr.Reason = BuildOnly, "header that no .c file of the tree includes"
		case f.Class == delta.Unknown:
			fr.Category, fr.Rule = Refused, RuleError
		case f.Class == delta.Built:
			// Every built file has a group: this is a bug, said as such.
			fr.Category, fr.Rule, fr.Reason = Refused, RuleError, "no update was tried for it"
		default:
			fr.Category = BuildOnly
		}
		r.Files = append(r.Files, fr)
	}
}

// matchChangelog attaches the changelog entries and CVE ids to the files
// they name.
func (r *Report) matchChangelog(diff func(string) []byte) {
	if len(r.Changelog) == 0 {
		return
	}
	var paths []string
	for _, f := range r.Files {
		paths = append(paths, f.Path)
	}
	// Identifiers are looked up in the diffs of code only: the diffs of
	// thousands of device trees and documents are not worth reading.
	codeDiff := func(p string) []byte {
		if strings.HasSuffix(p, ".c") || strings.HasSuffix(p, ".h") {
			return diff(p)
		}
		return nil
	}
	matches := delta.MatchEntries(r.Changelog, paths, codeDiff)
	for i := range r.Files {
		f := &r.Files[i]
		for _, m := range matches[f.Path] {
			e := r.Changelog[m.Entry]
			f.Changelog = append(f.Changelog, FileEntry{Text: e.Text, Sure: m.Sure, Why: m.Why})
			for _, c := range e.CVEs {
				if !contains(f.CVEs, c) {
					f.CVEs = append(f.CVEs, c)
				}
			}
		}
	}
}

func (r *Report) summarize() {
	s := Summary{Files: len(r.Files), ByCategory: map[Category]int{}}
	for _, c := range Categories {
		s.ByCategory[c] = 0
	}
	cveCarried := map[string]int{}
	cveAll := map[string]int{}
	for _, f := range r.Files {
		s.ByCategory[f.Category]++
		if strings.HasSuffix(f.Path, ".c") && f.Class == string(delta.Built) {
			s.BuiltC++
			if f.Target == "vmlinux" {
				s.BuiltIn++
				if f.Category == Carried || f.Category == Refused {
					s.NeedingBuiltIn++
				}
				if f.Category == Carried {
					s.CarriedBuiltIn++
				}
			}
		}
		if f.Category == Carried || f.Category == Refused {
			for _, c := range f.CVEs {
				cveAll[c]++
				if f.Category == Carried {
					cveCarried[c]++
				}
			}
		}
	}
	for _, u := range r.Updates {
		s.Updates++
		if u.Category == Carried {
			s.UpdatesCarried++
		}
	}
	s.CVEs = len(cveAll)
	for c, n := range cveAll {
		switch cveCarried[c] {
		case n:
			s.CVEsCarried++
		case 0:
		default:
			s.CVEsPartly++
		}
	}
	r.Summary = s
}

func (r *Report) write(dir string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := renameio.WriteFile(filepath.Join(dir, "report.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	var html strings.Builder
	if err := r.HTML(&html); err != nil {
		return err
	}
	return renameio.WriteFile(filepath.Join(dir, "report.html"), []byte(html.String()), 0o644)
}

// Fraction is "N of M (P%)" of the built-in C fixes carried.
func (s Summary) Fraction() string {
	if s.NeedingBuiltIn == 0 {
		return "0 of 0"
	}
	return fmt.Sprintf("%d of %d (%.0f%%)", s.CarriedBuiltIn, s.NeedingBuiltIn, 100*float64(s.CarriedBuiltIn)/float64(s.NeedingBuiltIn))
}

// WriteTable writes the report for a terminal: the summary, then every
// file that needs an update (carried or refused), then the counts of the
// others.
func (r *Report) WriteTable(w io.Writer, all bool) error {
	s := r.Summary
	fmt.Fprintf(w, "%s %s -> %s on %s (%s)\n", r.Package, r.From, r.To, r.Kernel, r.Release)
	var counts []string
	for _, c := range Categories {
		counts = append(counts, fmt.Sprintf("%d %s", s.ByCategory[c], c))
	}
	fmt.Fprintf(w, "%d changed files: %s\n", s.Files, strings.Join(counts, ", "))
	fmt.Fprintf(w, "built-in C fixes carried with no hand-written code: %s\n", s.Fraction())
	fmt.Fprintf(w, "updates: %d of %d carried; CVEs: %d carried, %d partly, of %d\n", s.UpdatesCarried, s.Updates, s.CVEsCarried, s.CVEsPartly, s.CVEs)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tCATEGORY\tTARGET\tUPDATE\tFUNCTIONS / RULE\tCVES")
	files := append([]FileReport{}, r.Files...)
	sort.SliceStable(files, func(i, j int) bool { return rank(files[i].Category) < rank(files[j].Category) })
	for _, f := range files {
		if !all && f.Category != Carried && f.Category != Refused && f.Category != InitOnly {
			continue
		}
		what := f.Rule
		if f.Category == Carried {
			what = fmt.Sprintf("%d: %s", len(f.Functions), shortFuncs(f.Functions, 3))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", f.Path, f.Category, f.Target, f.Update, what, strings.Join(f.CVEs, ","))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Cumulative != nil {
		fmt.Fprintf(w, "cumulative update: %s %s (%d files)\n", r.Cumulative.Category, filepath.Base(r.Cumulative.Output), len(r.Cumulative.Group.Files))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

func rank(c Category) int {
	for i, x := range Categories {
		if x == c {
			return i
		}
	}
	return len(Categories)
}

func shortFuncs(fs []string, n int) string {
	var names []string
	for i, f := range fs {
		if i == n {
			names = append(names, "...")
			break
		}
		name, _, _ := strings.Cut(f, " (")
		names = append(names, name)
	}
	return strings.Join(names, ",")
}

func summaryLine(n map[delta.Class]int, groups int) string {
	return fmt.Sprintf("%d .c files built by the configuration, %d not built, %d headers, %d build-only; %d updates to make",
		n[delta.Built], n[delta.NotBuilt], n[delta.Header], n[delta.BuildOnly], groups)
}

// ReadReport reads a report.json.
func ReadReport(name string) (*Report, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &r, nil
}
