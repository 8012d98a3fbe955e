// Package ci_test checks the pipelines of docs/ci as the artifacts they
// are: each parses as YAML, has the shape its CI system expects, and every
// ksplice command line in its shell scripts (guest scripts passed to lab
// run included) names commands and flags that exist, with arguments their
// commands accept, as ksplice's own command tree parses them.
package ci_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"mvdan.cc/sh/v3/syntax"

	"github.com/ksplice-go/ksplice/internal/cli"
	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/update"
)

// scripts returns every shell script of a pipeline: the values of the keys
// that hold shell (GitHub's run, GitLab's script, before_script and
// after_script), strings or lists of them, anywhere in the document.
func scripts(t *testing.T, doc any, path string, out map[string]string) {
	t.Helper()
	switch v := doc.(type) {
	case map[string]any:
		for k, val := range v {
			p := path + "." + k
			switch k {
			case "run", "script", "before_script", "after_script":
				switch s := val.(type) {
				case string:
					out[p] = s
				case []any:
					var lines []string
					for _, l := range s {
						str, ok := l.(string)
						if !ok {
							t.Errorf("%s: a script line is %T, not a string", p, l)
							continue
						}
						lines = append(lines, str)
					}
					out[p] = strings.Join(lines, "\n")
				default:
					t.Errorf("%s: a script is %T", p, val)
				}
			default:
				scripts(t, val, p, out)
			}
		}
	case []any:
		for i, val := range v {
			scripts(t, val, fmt.Sprintf("%s[%d]", path, i), out)
		}
	}
}

// jqPrograms are the jq programs of the scripts findKsplice parsed, by
// where they were found.
var jqPrograms = map[string][]string{}

// invocation is one ksplice command line found in a script.
type invocation struct {
	where string
	args  []string
}

// word renders a shell word as the argument it becomes. A word that is
// only an unquoted expansion may become any number of arguments (a list of
// flags built at run time), so it is left out (ok false); a quoted
// expansion, or one inside a word, becomes one argument, with the
// expansion's source text in it.
func word(w *syntax.Word) (arg string, ok bool) {
	if len(w.Parts) == 1 {
		switch w.Parts[0].(type) {
		case *syntax.ParamExp, *syntax.CmdSubst:
			return "", false
		}
	}
	var b strings.Builder
	var part func(p syntax.WordPart)
	part = func(p syntax.WordPart) {
		switch p := p.(type) {
		case *syntax.Lit:
			b.WriteString(p.Value)
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				part(q)
			}
		default:
			var src strings.Builder
			syntax.NewPrinter().Print(&src, p.(syntax.Node))
			b.WriteString(src.String())
		}
	}
	for _, p := range w.Parts {
		part(p)
	}
	return b.String(), true
}

// findKsplice returns the ksplice command lines of a shell script, and
// those of the scripts it passes to sh -c.
func findKsplice(t *testing.T, where, script string) []invocation {
	t.Helper()
	f, err := syntax.NewParser().Parse(strings.NewReader(script), where)
	if err != nil {
		t.Errorf("%s: not valid shell: %v", where, err)
		return nil
	}
	var found []invocation
	syntax.Walk(f, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		var args []string
		for _, w := range call.Args {
			if a, ok := word(w); ok {
				args = append(args, a)
			}
		}
		if len(args) > 1 && args[0] == "jq" {
			for _, a := range args[1:] {
				if !strings.HasPrefix(a, "-") {
					jqPrograms[where] = append(jqPrograms[where], a)
					break
				}
			}
		}
		found = append(found, commandsIn(t, where, args)...)
		return true
	})
	return found
}

// commandsIn returns the ksplice invocation that args is, if it is one, and
// those inside the script of an sh -c.
func commandsIn(t *testing.T, where string, args []string) []invocation {
	if len(args) == 0 {
		return nil
	}
	switch {
	case args[0] == "ksplice" || strings.HasSuffix(args[0], "/ksplice"):
		return []invocation{{where, args[1:]}}
	case (args[0] == "sh" || args[0] == "bash") && len(args) >= 3 && args[1] == "-c":
		return findKsplice(t, where+" (sh -c)", args[2])
	}
	return nil
}

// check parses args with a fresh ksplice command tree: the subcommands must
// exist, the flags must be theirs and take the values given, and the
// positional arguments must be what the command accepts. A lab run's guest
// command is checked in turn.
func check(t *testing.T, inv invocation) (string, error) {
	root := cli.NewRootCmd(cli.Streams{In: strings.NewReader(""), Out: io.Discard, ErrOut: io.Discard})
	cmd, rest, err := root.Find(inv.args)
	if err != nil {
		return "", err
	}
	if cmd == root || !cmd.Runnable() {
		return "", fmt.Errorf("%q is not a ksplice command", strings.Join(inv.args, " "))
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return "", fmt.Errorf("ksplice %s: %w", cmd.Name(), err)
	}
	pos := cmd.Flags().Args()
	if err := cmd.ValidateArgs(pos); err != nil {
		return "", fmt.Errorf("ksplice %s: %w", cmd.Name(), err)
	}
	if dash := cmd.ArgsLenAtDash(); dash >= 0 && cmd.CommandPath() == "ksplice lab run" {
		for _, inner := range commandsIn(t, inv.where+" (guest)", pos[dash:]) {
			if _, err := check(t, inner); err != nil {
				return "", fmt.Errorf("lab run's guest command: %w", err)
			}
		}
	}
	return cmd.CommandPath(), nil
}

var pipelines = []struct {
	file string
	// shape checks the keys the CI system needs.
	shape func(t *testing.T, doc map[string]any)
	// want are the commands the pipeline must run: create, try in the
	// lab, sign, publish.
	want []string
}{
	{"github-actions.yml", func(t *testing.T, doc map[string]any) {
		for _, k := range []string{"name", "on", "jobs"} {
			if doc[k] == nil {
				t.Errorf("no %q", k)
			}
		}
		jobs, _ := doc["jobs"].(map[string]any)
		for name, j := range jobs {
			job, _ := j.(map[string]any)
			if job["runs-on"] == nil || job["steps"] == nil {
				t.Errorf("job %s: no runs-on or steps", name)
			}
		}
		build, _ := jobs["build"].(map[string]any)
		matrix, _ := build["strategy"].(map[string]any)["matrix"].(map[string]any)
		if ks, _ := matrix["kernel"].([]any); len(ks) < 2 {
			t.Errorf("build matrix: %v, want a list of kernels", matrix)
		}
	}, []string{"ksplice create", "ksplice lab run", "ksplice apply", "ksplice undo", "ksplice sign", "ksplice publish"}},
	{"gitlab-ci.yml", func(t *testing.T, doc map[string]any) {
		stages, _ := doc["stages"].([]any)
		if len(stages) != 2 {
			t.Errorf("stages: %v", doc["stages"])
		}
		for name, j := range doc {
			job, ok := j.(map[string]any)
			if !ok || strings.HasPrefix(name, ".") || name == "variables" || name == "default" {
				continue
			}
			if job["stage"] == nil || job["script"] == nil {
				t.Errorf("job %s: no stage or script", name)
			}
		}
		build, _ := doc["build"].(map[string]any)
		par, _ := build["parallel"].(map[string]any)
		m, _ := par["matrix"].([]any)
		if len(m) == 0 {
			t.Errorf("build: no parallel matrix")
		} else if ks, _ := m[0].(map[string]any)["KERNEL"].([]any); len(ks) < 2 {
			t.Errorf("build matrix: %v, want a list of kernels", m[0])
		}
	}, []string{"ksplice create", "ksplice lab run", "ksplice apply", "ksplice undo", "ksplice sign", "ksplice publish"}},
}

func TestPipelines(t *testing.T) {
	for _, p := range pipelines {
		t.Run(p.file, func(t *testing.T) {
			b, err := os.ReadFile(p.file)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := yaml.Unmarshal(b, &doc); err != nil {
				t.Fatalf("not valid YAML: %v", err)
			}
			p.shape(t, doc)
			found := map[string]string{}
			scripts(t, doc, "", found)
			if len(found) == 0 {
				t.Fatal("no shell scripts found")
			}
			seen := map[string]int{}
			for where, s := range found {
				for _, inv := range findKsplice(t, where, s) {
					path, err := check(t, inv)
					if err != nil {
						t.Errorf("%s: ksplice %s: %v", inv.where, strings.Join(inv.args, " "), err)
						continue
					}
					seen[path]++
					// The guest command of a lab run counts too.
					for _, inner := range guestCommands(t, inv) {
						seen[inner]++
					}
				}
			}
			t.Logf("ksplice commands: %v", seen)
			for _, w := range p.want {
				if seen[w] == 0 {
					t.Errorf("the pipeline never runs %s", w)
				}
			}
		})
	}
}

func guestCommands(t *testing.T, inv invocation) []string {
	if len(inv.args) < 2 || inv.args[0] != "lab" || inv.args[1] != "run" {
		return nil
	}
	for i, a := range inv.args {
		if a != "--" {
			continue
		}
		var out []string
		for _, inner := range commandsIn(t, inv.where, inv.args[i+1:]) {
			if p, err := check(t, inner); err == nil {
				out = append(out, p)
			}
		}
		return out
	}
	return nil
}

// TestCheckCatches makes sure the check above can fail: each of these
// command lines is wrong in one way.
func TestCheckCatches(t *testing.T) {
	for _, script := range []string{
		`ksplice frobnicate x`,
		`ksplice publish --no-such-flag repo x.tar`,
		`ksplice upgrade --repo`,
		`ksplice upgrade extra-arg`,
		`ksplice undo`,
		`ksplice lab run --kernel k --timeout soon -- true`,
		`/opt/ksplice/bin/ksplice create --kernel "$K" --sign`,
		`ksplice lab run --kernel "$K" -- sh -c "ksplice apply --no-such-flag u.tar"`,
		`for t in *.tar; do ksplice publish --sign; done`,
	} {
		invs := findKsplice(t, "test", script)
		if len(invs) != 1 {
			t.Errorf("%s: found %d ksplice command lines, want 1", script, len(invs))
			continue
		}
		if path, err := check(t, invs[0]); err == nil {
			t.Errorf("%s: accepted as %s", script, path)
		}
	}
	// And these are right.
	for _, script := range []string{
		`ksplice upgrade --repo "$URL" --dry-run --json`,
		`ksplice show --available --json`,
		`ksplice lab run --kernel "$K" $modules --file "$t:/root/u.tar" -- sh -c "ksplice apply --json u.tar && ksplice undo '$id'"`,
	} {
		for _, inv := range findKsplice(t, "test", script) {
			if _, err := check(t, inv); err != nil {
				t.Errorf("%s: %v", script, err)
			}
		}
	}
}

// TestJQPrograms runs every jq program of the pipelines on what the
// commands they read print with --json: create's summary (of an update of
// vmlinux and ext4) and publish's report, made by the real code. Each
// program must print something, and no null, from one of them: a field
// the pipelines read that ksplice does not write fails here.
func TestJQPrograms(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Fatalf("jq is missing (make deps installs it): %v", err)
	}
	jqPrograms = map[string][]string{}
	for _, p := range pipelines {
		b, err := os.ReadFile(p.file)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		found := map[string]string{}
		scripts(t, doc, p.file, found)
		for where, s := range found {
			findKsplice(t, where, s)
		}
	}
	samples := map[string][]byte{"create --json": createSummary(t), "publish --json": publishReport(t)}
	n := 0
	for where, progs := range jqPrograms {
		for _, prog := range progs {
			n++
			var outs []string
			ok := false
			for name, in := range samples {
				cmd := exec.Command("jq", "-r", prog)
				cmd.Stdin = bytes.NewReader(in)
				out, err := cmd.CombinedOutput()
				outs = append(outs, fmt.Sprintf("%s: %q (%v)", name, out, err))
				lines := strings.Split(strings.TrimSpace(string(out)), "\n")
				if err == nil && len(out) > 0 && !contains(lines, "null") {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s: jq %s reads nothing ksplice writes:\n%s", where, prog, strings.Join(outs, "\n"))
			}
		}
	}
	if n < 6 {
		t.Errorf("found %d jq programs in the pipelines, want at least 6", n)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func createSummary(t *testing.T) []byte {
	t.Helper()
	res := &create.Result{ID: "fix_1", Output: "out/fix.tar", Manifest: &update.Manifest{
		ID: "fix_1", Kernel: update.Kernel{Release: "6.1.0-55-amd64", Machine: "x86_64"},
		Targets: []update.Target{
			{Name: "vmlinux", Module: "ksplice_fix_1_vmlinux.ko", Functions: []update.Function{{Name: "cmdline_proc_show", Status: "changed"}}},
			{Name: "ext4", Module: "ksplice_fix_1_ext4.ko", Functions: []update.Function{{Name: "ext4_mb_new_blocks", Status: "changed"}}},
		},
	}}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func publishReport(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	m := &update.Manifest{ID: "fix_1", Description: "a fix", Created: time.Now(), Core: "ksplice.ko", Patch: "patch.diff",
		Kernel:  update.Kernel{Release: "6.1.0-55-amd64", Machine: "x86_64"},
		Targets: []update.Target{{Name: "vmlinux", Module: "m.ko"}}}
	var buf bytes.Buffer
	if err := update.Write(&buf, m, map[string][]byte{"ksplice.ko": nil, "m.ko": nil, "patch.diff": nil}); err != nil {
		t.Fatal(err)
	}
	tar := filepath.Join(dir, "fix.tar")
	if err := os.WriteFile(tar, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := cli.Main([]string{"publish", "--json", filepath.Join(dir, "repo"), tar}, cli.Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}); code != 0 {
		t.Fatalf("publish: exit %d: %s", code, errOut.String())
	}
	return out.Bytes()
}
