package run

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/verdict"
)

func TestOutput(t *testing.T) {
	out, err := Command(context.Background(), "/", "sh", "-c", "pwd; echo warn >&2")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != "/" {
		t.Errorf("stdout = %q, want / (Dir honoured, stderr kept apart)", got)
	}
}

func TestError(t *testing.T) {
	c := New("sh", "-c", "echo out; echo why >&2; exit 3")
	var log strings.Builder
	c.Log = &log
	_, err := c.Output(context.Background())
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("err = %v (%T), want *run.Error", err, err)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("err does not unwrap to exit status 3: %v", err)
	}
	if re.Cmd != "sh -c echo out; echo why >&2; exit 3" || re.Output != "why\nout" {
		t.Errorf("Cmd %q Output %q", re.Cmd, re.Output)
	}
	if !strings.Contains(log.String(), "why") || !strings.Contains(log.String(), "out") {
		t.Errorf("log %q lacks the command's output", log.String())
	}
}

func TestMissingTool(t *testing.T) {
	_, err := Command(context.Background(), "", "ksplice-no-such-tool")
	if !errors.Is(err, ErrToolMissing) || !errors.Is(err, verdict.ErrUnsupported) {
		t.Errorf("err = %v, want ErrToolMissing wrapping verdict.ErrUnsupported", err)
	}
	if _, err := LookTool("ksplice-no-such-tool", "ksplice-pkg"); err == nil || !strings.Contains(err.Error(), "apt-get install ksplice-pkg") {
		t.Errorf("LookTool err = %v, want the package named", err)
	}
}

func TestTail(t *testing.T) {
	if got := Tail([]byte("a\n\nb\nc\n"), 2); got != "b\nc" {
		t.Errorf("Tail = %q", got)
	}
}
