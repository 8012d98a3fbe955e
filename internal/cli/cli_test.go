package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, ExitOK},
		{errors.New("x"), ExitError},
		{&usageError{errors.New("bad flag")}, ExitUsage},
		{fmt.Errorf("patch: %w", verdict.ErrRefused), ExitRefused},
		{fmt.Errorf("kernel: %w", verdict.ErrUnsupported), ExitUnsupported},
		{&statusError{code: 42}, 42},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func run(args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	code := Main(args, Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	return out.String(), errOut.String(), code
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"lab", "fetch"},
		{"lab", "fetch", "--no-such-flag", "debian:6.1.0-55-amd64"},
		{"lab", "run", "--kernel", "debian:6.1.0-55-amd64"},
		{"lab", "run", "--", "true"},
	} {
		_, errOut, code := run(args...)
		if code != ExitUsage {
			t.Errorf("ksplice %v: exit %d, want %d (stderr %q)", args, code, ExitUsage, errOut)
		}
		if !strings.HasPrefix(errOut, "ksplice: ") {
			t.Errorf("ksplice %v: stderr %q does not start with 'ksplice: '", args, errOut)
		}
	}
}

func TestUnsupportedKernel(t *testing.T) {
	_, errOut, code := run("lab", "fetch", "debian:6.1.0-55-sparc64")
	if code != ExitUnsupported || !strings.Contains(errOut, `"sparc64"`) {
		t.Errorf("exit %d, stderr %q; want %d naming sparc64", code, errOut, ExitUnsupported)
	}
}

// TestLabRunCLI runs the built binary the way users and CI scripts do, on
// every lab kernel: for a guest of another architecture the binary finds
// bin/ksplice-linux-GOARCH beside itself.
func TestLabRunCLI(t *testing.T) { labtest.ForEachKernel(t, testLabRunCLI) }

func testLabRunCLI(t *testing.T, k *kbuild.Kernel) {
	bin := labtest.GuestBinary(t)
	labtest.GuestBinaryFor(t, labtest.GOARCH(t, k)) // built beside bin
	log := t.TempDir() + "/console.log"
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		// The command's output and exit status, and --console, which
		// keeps the whole boot log: one boot.
		{args: []string{"--console", log, "--", "sh", "-c", "uname -r; exit 5"}, code: 5, stdout: k.Release + "\n"},
		{args: []string{"--", "frobnicate"}, code: ExitError, stderr: "command not found in the guest: frobnicate"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"lab", "run", "--kernel", k.Spec}, tc.args...)...)
			var out, errOut bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errOut
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, errOut.String())
			}
			if tc.stdout != "" && out.String() != tc.stdout {
				t.Errorf("stdout %q, want %q", out.String(), tc.stdout)
			}
			if tc.stderr != "" && !strings.Contains(errOut.String(), tc.stderr) {
				t.Errorf("stderr %q lacks %q", errOut.String(), tc.stderr)
			}
		})
	}
	b, err := os.ReadFile(log)
	if err != nil || !strings.Contains(string(b), "Linux version "+strings.SplitN(k.Release, "-", 2)[0]) {
		t.Errorf("console log %s lacks the kernel banner (err %v)", log, err)
	}
}
