package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/ksplice-go/ksplice/internal/verdict"
)

// CommandError is a failed subprocess, with the tail of what it printed on
// stderr, which usually says why.
type CommandError struct {
	Cmd    string
	Err    error
	Stderr string
}

func (e *CommandError) Error() string {
	msg := fmt.Sprintf("%s: %v", e.Cmd, e.Err)
	if e.Stderr != "" {
		msg += "\n" + e.Stderr
	}
	return msg
}

func (e *CommandError) Unwrap() error { return e.Err }

// tailLines returns the last n non-empty lines of b.
func tailLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	var keep []string
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, "\n")
}

// lookTool finds a host tool, or says which package provides it.
func lookTool(name, pkg string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s not found on this machine (install it: apt-get install %s, or run make deps)", verdict.ErrUnsupported, name, pkg)
	}
	return p, nil
}

// command runs a host command in dir and returns its stdout. Its stderr is
// copied to log (when set) and kept for the error.
func command(ctx context.Context, dir string, log io.Writer, name string, args ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if log != nil {
		cmd.Stderr = io.MultiWriter(&stderr, log)
	}
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("%w: %s not found on this machine", verdict.ErrUnsupported, name)
		}
		// Tools such as make report errors on stdout as well.
		out := append(stderr.Bytes(), stdout.Bytes()...)
		return nil, &CommandError{Cmd: name + " " + strings.Join(args, " "), Err: err, Stderr: tailLines(out, 25)}
	}
	return stdout.Bytes(), nil
}

// shell runs a pipeline through sh -c; for tar pipes only, with arguments
// that the lab itself chose.
func shell(ctx context.Context, dir, script string) error {
	_, err := command(ctx, dir, nil, "sh", "-ec", script)
	return err
}
