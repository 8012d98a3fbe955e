// Package run runs host tools (make, patch, cp, apt-get, qemu) for every
// other package, so that a failed subprocess always reads the same way: one
// error type carrying the command line, where it ran and the tail of what it
// printed, which usually says why.
package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ksplice-go/ksplice/internal/verdict"
)

// ErrToolMissing means a host tool is not installed. It wraps
// verdict.ErrUnsupported: the environment, not the input, is at fault.
var ErrToolMissing = fmt.Errorf("%w: tool not found", verdict.ErrUnsupported)

// Error is a subprocess that failed: it could not start, was killed, or
// exited non-zero. It unwraps to the *exec.ExitError (or the start error),
// and to ErrToolMissing when the program does not exist.
type Error struct {
	Cmd    string // the command line, as a person would type it
	Dir    string // where it ran; "" for the current directory
	Err    error
	Output string // the last lines it printed (stderr, then stdout)
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %v", e.Cmd, e.Err)
	if e.Output != "" {
		msg += "\n" + e.Output
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// TailLines is how many lines of a failed command's output an Error keeps.
const TailLines = 25

// Cmd is one command to run.
type Cmd struct {
	Name  string
	Args  []string
	Dir   string    // working directory; "" for the current one
	Env   []string  // extra KEY=VALUE pairs added to the environment
	Stdin io.Reader // nil for none
	// Log, when set, receives everything the command prints as it prints
	// it (stdout and stderr alike), for progress on a terminal.
	Log io.Writer
	// Stderr, when set, receives the command's stderr as well.
	Stderr io.Writer
}

// New returns a Cmd for name and args.
func New(name string, args ...string) *Cmd {
	return &Cmd{Name: name, Args: args}
}

// String returns the command line.
func (c *Cmd) String() string {
	return strings.TrimSpace(c.Name + " " + strings.Join(c.Args, " "))
}

// Output runs c and returns its stdout. On failure the error is an *Error
// whose Output holds the tail of stderr and stdout (tools such as make
// report errors on stdout too).
func (c *Cmd) Output(ctx context.Context) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	// The command and what it starts (make's compilers) are a process
	// group of their own, which a cancelled ctx stops whole: SIGTERM,
	// on which make deletes the targets it was making (a half-written
	// object would look up to date to the next build). Killing make
	// alone left its children running, holding the pipes, and Run
	// waiting for them. WaitDelay bounds that wait: a command that has
	// not exited that long after SIGTERM is killed, and one that exited
	// but left something holding its pipes that long fails
	// (exec.ErrWaitDelay).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	}
	cmd.WaitDelay = 10 * time.Second
	cmd.Dir = c.Dir
	if len(c.Env) > 0 {
		cmd.Env = append(cmd.Environ(), c.Env...)
	}
	cmd.Stdin = c.Stdin
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var extra []io.Writer
	if c.Stderr != nil {
		extra = append(extra, c.Stderr)
	}
	if c.Log != nil {
		// exec copies stdout and stderr in goroutines of their own: both
		// write to Log, which need not be safe for that.
		log := &lockedWriter{w: c.Log}
		cmd.Stdout = io.MultiWriter(&stdout, log)
		extra = append(extra, log)
	}
	if len(extra) > 0 {
		cmd.Stderr = io.MultiWriter(append([]io.Writer{&stderr}, extra...)...)
	}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil && !errors.Is(err, exec.ErrNotFound) {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		if errors.Is(err, exec.ErrNotFound) {
			err = fmt.Errorf("%w: %s", ErrToolMissing, c.Name)
		}
		out := append(stderr.Bytes(), stdout.Bytes()...)
		return stdout.Bytes(), &Error{Cmd: c.String(), Dir: c.Dir, Err: err, Output: Tail(out, TailLines)}
	}
	return stdout.Bytes(), nil
}

// Run runs c and discards its stdout.
func (c *Cmd) Run(ctx context.Context) error {
	_, err := c.Output(ctx)
	return err
}

// Command runs name with args in dir and returns its stdout; a shorthand
// for the common case.
func Command(ctx context.Context, dir string, name string, args ...string) ([]byte, error) {
	c := New(name, args...)
	c.Dir = dir
	return c.Output(ctx)
}

// LookTool finds a host tool, or says which Debian package provides it. The
// error wraps ErrToolMissing.
func LookTool(name, pkg string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not on this machine (install it: apt-get install %s, or run make deps)", ErrToolMissing, name, pkg)
	}
	return p, nil
}

// Tail returns the last n non-empty lines of b.
func Tail(b []byte, n int) string {
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

// lockedWriter serialises the writes of several goroutines to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
