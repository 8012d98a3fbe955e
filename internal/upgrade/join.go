package upgrade

import (
	"context"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// A function a fix adds in one file and calls from another (a helper
// introduced for the fix, or a function renamed with its callers) makes
// two per-file updates that cannot stand alone: the file with the new
// function is refused as replacing nothing that runs (its new code has no
// running caller), and the file with the call would link against a
// function the running kernel does not have. The release has them as one
// change, and so must the update.

// defined matches a function name at the start of an added line that
// opens a parameter list: kernel style starts a definition (or its name,
// on the line after the return type) in the first column.
var defined = regexp.MustCompile(`^\+(?:[A-Za-z_][A-Za-z0-9_ \t\*]*[ \t\*])?([A-Za-z_][A-Za-z0-9_]*)\(`)

// newFunctions returns the names of functions a diff's added lines define
// or declare in the first column, leaving out macros (all capitals:
// EXPORT_SYMBOL(), DEFINE_MUTEX()) and keywords.
func newFunctions(diff []byte) []string {
	var names []string
	for _, line := range strings.Split(string(diff), "\n") {
		if strings.HasPrefix(line, "+++") {
			continue
		}
		m := defined.FindStringSubmatch(line)
		if m == nil || strings.ToUpper(m[1]) == m[1] {
			continue
		}
		switch m[1] {
		case "if", "for", "while", "switch", "return", "sizeof", "typeof":
			continue
		}
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	return names
}

// callPattern matches a call of one of names (a name followed by an
// opening parenthesis).
func callPattern(names []string) *regexp.Regexp {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = regexp.QuoteMeta(n)
	}
	return regexp.MustCompile(`\b(?:` + strings.Join(quoted, "|") + `)\s*\(`)
}

// callsMatch reports whether a diff adds or removes a line call matches.
func callsMatch(diff []byte, call *regexp.Regexp) bool {
	for _, line := range strings.Split(string(diff), "\n") {
		if strings.HasPrefix(line, "+++") || strings.HasPrefix(line, "---") {
			continue
		}
		if (strings.HasPrefix(line, "+") || strings.HasPrefix(line, "-")) && call.MatchString(line[1:]) {
			return true
		}
	}
	return false
}

// buildError matches a compiler's error in a .c file: the file's path as
// the build named it (absolute, or under the tree).
var buildError = regexp.MustCompile(`(?m)^(\S+\.c):\d+(?::\d+)?: (?:fatal )?error:`)

// othersFailing are the changed .c files of the delta, other than g's,
// that a build error of g's update names: their old text does not compile
// with the headers g's fix needs (6.1.190 changes the signature of
// inet_connection_sock_af_ops.syn_recv_sock in a header and in every file
// that calls or implements it). The release has them as one change.
func (u *upgrader) othersFailing(g Group, reason string) []string {
	var out []string
	for _, m := range buildError.FindAllStringSubmatch(reason, -1) {
		for f := range u.changedC {
			if (m[1] == f || strings.HasSuffix(m[1], "/"+f)) && !contains(g.Files, f) && !contains(out, f) {
				out = append(out, f)
			}
		}
	}
	sort.Strings(out)
	return out
}

// maxJoinRounds bounds the creates of one joint update: each round takes
// in more files, or more hunks of a file it carries in part.
const maxJoinRounds = 24

// jointID names the joint update of the group id: id_joint, cut to fit
// an update's id (32 characters), numbered if another group has it.
func jointID(id string, groups []Group) string {
	base := id
	if len(base) > 25 {
		base = strings.TrimRight(base[:25], "_")
	}
	for n := 1; ; n++ {
		cand := base + "_joint"
		if n > 1 {
			cand += strconv.Itoa(n)
		}
		if !slices.ContainsFunc(groups, func(g Group) bool { return g.ID == cand }) {
			return cand
		}
	}
}

// groupsOf are the indices of the groups, other than i, that change one
// of files, and are tried (not left out by --files or --targets).
func groupsOf(groups []Group, results []Outcome, i int, files []string) []int {
	var out []int
	for j, g := range groups {
		if j == i || g.Kind != "c" || results[j].Category == NotTried {
			continue
		}
		for _, f := range g.Files {
			if contains(files, f) {
				out = append(out, j)
				break
			}
		}
	}
	return out
}

// joinPartners tries, for each update refused because it replaces no
// running function (RuleNothingReplaced), because its build with the
// headers it needs fails in other changed files (RuleBuildError naming
// them), or carried while its diff defines a function, the update of it
// and of the other changed .c files whose diffs call a function its diff
// defines (or that failed to build). A joint update whose build fails in
// yet other changed files takes them in too, until it builds. A carried file that adds
// a function another file calls would otherwise leave the caller's update
// alone, linked against a function the running kernel does not have,
// which the engine refuses at apply (6.1.190's clockevents.c and
// tick-broadcast.c). When the joint update is carried it takes the place
// of theirs, and each of their files is reported with it, but a file it
// carries in part (trimFiles), reported refused for its whole change;
// otherwise a refusal says what the joint update answered, and carried
// updates stay as they were. Groups and outcomes stay in step.
func (u *upgrader) joinPartners(ctx context.Context, groups []Group, results []Outcome) ([]Group, []Outcome) {
	for i := 0; i < len(results); i++ {
		nothing := results[i].Rule == RuleNothingReplaced
		missing := missingName(results[i])
		var failing []string
		if results[i].Rule == RuleBuildError {
			failing = u.othersFailing(groups[i], results[i].Reason)
		}
		if !nothing && missing == "" && len(failing) == 0 && results[i].Category != Carried || groups[i].Kind != "c" || groups[i].Joint {
			continue
		}
		var partners []int
		switch {
		case len(failing) > 0:
			partners = groupsOf(groups, results, i, failing)
		case missing != "":
			// It needs what another file's diff defines (a static
			// the release makes global, a new helper it takes the
			// address of): that file.
			partners = u.definers(ctx, groups, results, i, missing)
		default:
			var defs []string
			for _, f := range groups[i].Files {
				defs = append(defs, newFunctions(u.diffOf(ctx, f))...)
			}
			if len(defs) == 0 {
				continue
			}
			call := callPattern(defs)
			for j := range groups {
				if j == i || groups[j].Kind != "c" || results[j].Category == NotTried {
					continue
				}
				for _, f := range groups[j].Files {
					if callsMatch(u.diffOf(ctx, f), call) {
						partners = append(partners, j)
						break
					}
				}
			}
		}
		if len(partners) == 0 {
			continue
		}
		joint := Group{ID: jointID(groups[i].ID, groups), Kind: "c", Joint: true, Files: slices.Clone(groups[i].Files), Headers: slices.Clone(groups[i].Headers)}
		var names []string
		add := func(js []int) {
			for _, j := range js {
				if contains(joint.Files, groups[j].Files[0]) {
					continue
				}
				joint.Files = append(joint.Files, groups[j].Files...)
				joint.Headers = union(joint.Headers, groups[j].Headers)
				names = append(names, strings.Join(groups[j].Files, " "))
			}
			sort.Strings(joint.Files)
		}
		add(partners)
		switch {
		case len(failing) > 0:
			u.logf("%s builds with its headers only with the changes of %s: trying them as one update", strings.Join(groups[i].Files, " "), strings.Join(names, ", "))
		case missing != "":
			u.logf("%s needs %s, which %s defines: trying them as one update", strings.Join(groups[i].Files, " "), missing, strings.Join(names, ", "))
		default:
			u.logf("%s defines what %s calls: trying them as one update", strings.Join(groups[i].Files, " "), strings.Join(names, ", "))
		}
		oc := u.createOne(ctx, joint)
		u.logf("%s: %s%s", strings.Join(joint.Files, " "), oc.Category, detail(oc))
		// A joint update whose build fails in yet other changed
		// files, or whose new code needs a function another changed
		// file defines, takes them in: every file of one change of
		// the release. Refused in the objects of some of its files,
		// it carries those in part (trimFiles), with the hunks its
		// builds need of them (neededHunks), and goes on.
		var full Outcome // the refusal of the files it carries in part, whole
		trimmed := false
		for round := 0; round < maxJoinRounds; round++ {
			if oc.Rule == RuleBuildError && len(joint.Partial) > 0 {
				if more := u.neededHunks(ctx, joint.Partial, oc.Reason); len(more) > 0 {
					joint.Partial = withHunks(joint.Partial, more)
					oc = u.createOne(ctx, joint)
					u.logf("%s (in part: %s): %s%s", strings.Join(joint.Files, " "), partsLine(joint.Partial), oc.Category, detail(oc))
					continue
				}
			}
			var more []int
			switch oc.Rule {
			case RuleBuildError:
				more = groupsOf(groups, results, -1, u.othersFailing(joint, oc.Reason))
			case RuleMissingSymbol:
				more = u.definers(ctx, groups, results, -1, missingName(oc))
			}
			// Not whole the files it carries in part: whole, they
			// are what was refused.
			more = slices.DeleteFunc(more, func(j int) bool {
				return slices.ContainsFunc(groups[j].Files, func(f string) bool { _, ok := joint.Partial[f]; return ok })
			})
			if n := len(joint.Files); len(more) > 0 {
				add(more)
				if len(joint.Files) > n {
					partners = append(partners, more...)
					u.logf("%s: needs the changes of %s too", strings.Join(joint.Files, " "), strings.Join(names, ", "))
					oc = u.createOne(ctx, joint)
					u.logf("%s: %s%s", strings.Join(joint.Files, " "), oc.Category, detail(oc))
					continue
				}
			}
			if oc.Category == Carried || trimmed {
				break
			}
			var whole []string // carried alone: not to be cut
			for _, j := range append([]int{i}, partners...) {
				if results[j].Category == Carried {
					whole = append(whole, groups[j].Files...)
				}
			}
			g, objects, ok := u.trimFiles(joint, oc, whole)
			if !ok {
				break
			}
			u.logf("%s: refused in %s: trying it with only the parts of %s that the others need", strings.Join(joint.Files, " "), strings.Join(objects, ", "), strings.Join(slices.Sorted(maps.Keys(g.Partial)), ", "))
			full, joint, trimmed = oc, g, true
			oc = u.createOne(ctx, joint)
			u.logf("%s (in part: %s): %s%s", strings.Join(joint.Files, " "), partsLine(joint.Partial), oc.Category, detail(oc))
		}
		if oc.Category != Carried {
			if nothing || missing != "" || len(failing) > 0 {
				how := "which call its new functions"
				switch {
				case missing != "":
					how = "which define " + missing
				case len(failing) > 0:
					how = "whose changes its headers need"
				}
				// Once: a restart after another join tries it again.
				if line := fmt.Sprintf("\ntried with %s, %s: %s (%s)", strings.Join(names, ", "), how, oc.Category, oc.Rule); !strings.Contains(results[i].Reason, line) {
					results[i].Reason += line
				}
			}
			continue
		}
		drop := append([]int{i}, partners...)
		sort.Sort(sort.Reverse(sort.IntSlice(drop)))
		drop = slices.Compact(drop)
		for _, j := range drop {
			// A file it carries in part keeps its group, whose
			// change as a whole was refused.
			if slices.ContainsFunc(groups[j].Files, func(f string) bool { _, ok := joint.Partial[f]; return ok }) {
				results[j] = partOutcome(groups[j], full, joint)
				continue
			}
			// The joint update replaces theirs: a tarball left in the
			// output directory would be applied by a script that
			// applies them all.
			if out := results[j].Output; out != "" {
				os.Remove(out)
			}
			groups = slices.Delete(groups, j, j+1)
			results = slices.Delete(results, j, j+1)
		}
		groups = append(groups, joint)
		results = append(results, oc)
		i = -1 // indices moved: look again from the start
	}
	return groups, results
}

// missingRE finds the symbol in create's ErrMissingSymbol refusal.
var missingRE = regexp.MustCompile(`refers to ([A-Za-z_][A-Za-z0-9_]*), which `)

// missingName is the symbol an outcome refused RuleMissingSymbol needs,
// or "".
func missingName(o Outcome) string {
	if o.Rule != RuleMissingSymbol {
		return ""
	}
	if m := missingRE.FindStringSubmatch(o.Reason); m != nil {
		return m[1]
	}
	return ""
}

// definers are the groups, other than i, whose diffs define the function
// name in an added line.
func (u *upgrader) definers(ctx context.Context, groups []Group, results []Outcome, i int, name string) []int {
	var out []int
	for j := range groups {
		if j == i || groups[j].Kind != "c" || results[j].Category == NotTried {
			continue
		}
		for _, f := range groups[j].Files {
			if slices.Contains(newFunctions(u.diffOf(ctx, f)), name) {
				out = append(out, j)
				break
			}
		}
	}
	return out
}
