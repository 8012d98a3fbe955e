// Package labtest helps tests boot lab kernels: it gates them on
// KSPLICE_LAB=1 (make test sets it), fetches the kernel under test once per
// process, and provides a statically linked ksplice for the guest.
package labtest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/ksplice-go/ksplice/internal/lab"
)

// DefaultKernel is the kernel lab tests boot unless KSPLICE_LAB_KERNEL says
// otherwise.
const DefaultKernel = "debian:6.1.0-55-amd64"

var (
	fetchOnce sync.Once
	kernel    *lab.Kernel
	fetchErr  error

	binOnce sync.Once
	bin     string
	binErr  error
)

// Kernel skips t unless lab tests are enabled, and returns the prepared
// kernel under test, fetching it on first use.
func Kernel(t testing.TB) *lab.Kernel {
	t.Helper()
	if os.Getenv("KSPLICE_LAB") != "1" {
		t.Skip("lab test: set KSPLICE_LAB=1 (make test does) to boot real kernels")
	}
	fetchOnce.Do(func() {
		name := os.Getenv("KSPLICE_LAB_KERNEL")
		if name == "" {
			name = DefaultKernel
		}
		spec, err := lab.ParseSpec(name)
		if err != nil {
			fetchErr = err
			return
		}
		kernel, fetchErr = lab.Fetch(context.Background(), spec, lab.FetchOptions{})
	})
	if fetchErr != nil {
		t.Fatalf("fetch lab kernel: %v", fetchErr)
	}
	return kernel
}

// GuestBinary returns a statically linked ksplice for the host's
// architecture: $KSPLICE_BIN when set (make test sets it), else one built
// once into a temporary directory.
func GuestBinary(t testing.TB) string {
	t.Helper()
	if env := os.Getenv("KSPLICE_BIN"); env != "" {
		return env
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ksplice-labtest-")
		if err != nil {
			binErr = err
			return
		}
		bin = filepath.Join(dir, "ksplice")
		cmd := exec.Command("go", "build", "-o", bin, "github.com/ksplice-go/ksplice/cmd/ksplice")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH="+runtime.GOARCH)
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = &buildError{out: string(out), err: err}
		}
	})
	if binErr != nil {
		t.Fatalf("build guest ksplice: %v", binErr)
	}
	return bin
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

// Output is what a guest run printed.
type Output struct {
	Stdout, Stderr, Console string
	Result                  *lab.Result
}

// Run boots the lab kernel with opts (Kernel, GuestBinary and the output
// writers filled in) and returns what it printed. A kernel problem on the
// console, a timeout or a missing command fails the test, with the console
// log in the failure message.
func Run(t testing.TB, opts lab.RunOptions) Output {
	t.Helper()
	out, err := RunErr(t, opts)
	if err != nil {
		t.Fatalf("lab run %q: %v\nconsole:\n%s\nstderr:\n%s", opts.Command, err, tail(out.Console, 60), out.Stderr)
	}
	return out
}

// RunErr is Run for tests that expect the run itself to fail.
func RunErr(t testing.TB, opts lab.RunOptions) (Output, error) {
	t.Helper()
	if opts.Kernel == nil {
		opts.Kernel = Kernel(t)
	}
	if opts.GuestBinary == "" {
		opts.GuestBinary = GuestBinary(t)
	}
	var stdout, stderr, console bytes.Buffer
	opts.Stdout, opts.Stderr, opts.Console = &stdout, &stderr, &console
	res, err := lab.Run(context.Background(), opts)
	return Output{Stdout: stdout.String(), Stderr: stderr.String(), Console: console.String(), Result: res}, err
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
