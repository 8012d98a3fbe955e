package cli

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/update"
)

// TestSystemdUnit checks packaging/systemd/ksplice.service against the
// CLI: its ExecStart is a command line ksplice accepts, and it carries the
// conditions that let an administrator turn it off (noksplice on the
// kernel command line, /etc/ksplice/disable).
func TestSystemdUnit(t *testing.T) {
	f, err := os.Open("../../packaging/systemd/ksplice.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	keys := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "[") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("unit line %q is not KEY=VALUE", l)
		}
		keys[k] = append(keys[k], v)
	}
	for k, want := range map[string]string{
		"Type":                       "oneshot",
		"RemainAfterExit":            "yes",
		"ConditionKernelCommandLine": "!noksplice",
		"ConditionPathExists":        "!/etc/ksplice/disable",
		"WantedBy":                   "multi-user.target",
	} {
		if got := keys[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%v, want %s", k, got, want)
		}
	}
	exec := keys["ExecStart"]
	if len(exec) != 1 {
		t.Fatalf("ExecStart=%v", exec)
	}
	argv := strings.Fields(exec[0])
	if argv[0] != "/usr/bin/ksplice" {
		t.Errorf("ExecStart runs %s, not /usr/bin/ksplice (where the package installs it)", argv[0])
	}
	root := NewRootCmd(Streams{})
	cmd, args, err := root.Find(argv[1:])
	if err != nil || cmd.Name() != "apply" {
		t.Fatalf("ExecStart %q: %v (command %q)", exec[0], err, cmd.Name())
	}
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("ExecStart %q: %v", exec[0], err)
	}
	if err := cmd.Args(cmd, cmd.Flags().Args()); err != nil {
		t.Fatalf("ExecStart %q: %v", exec[0], err)
	}
	if boot, _ := cmd.Flags().GetBool("boot"); !boot {
		t.Errorf("ExecStart %q does not pass --boot", exec[0])
	}
}

// TestFunctionLabel: list names each function, marked when the engine
// diverts it by a direct jump rather than through ftrace.
func TestFunctionLabel(t *testing.T) {
	for _, c := range []struct {
		f    update.Function
		want string
	}{
		{update.Function{Name: "memchr_inv", Method: "jump"}, "memchr_inv[jump]"},
		{update.Function{Name: "cmdline_proc_show", Method: "ftrace"}, "cmdline_proc_show"},
		{update.Function{Name: "old_update"}, "old_update"},
	} {
		if got := functionLabel(c.f); got != c.want {
			t.Errorf("functionLabel(%+v) = %q, want %q", c.f, got, c.want)
		}
	}
}
