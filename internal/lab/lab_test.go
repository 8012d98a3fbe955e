package lab_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
)

// These tests boot the real Debian kernels under test (make test enables
// them with KSPLICE_LAB=1), each test once per kernel of labtest.Kernels.

func TestLabUname(t *testing.T) { labtest.ForEachKernel(t, testUname) }

func testUname(t *testing.T, k *kbuild.Kernel) {
	out := labtest.Run(t, lab.RunOptions{Kernel: k, Command: []string{"uname", "-r"}})
	if got := strings.TrimSpace(out.Stdout); got != k.Release {
		t.Errorf("uname -r in the guest = %q, want %q", got, k.Release)
	}
	if out.Result.ExitCode != 0 {
		t.Errorf("exit code = %d, want 0", out.Result.ExitCode)
	}
	// The guest really is the fetched image: its version line names the
	// Debian package version.
	if !strings.Contains(out.Console, k.Version) {
		t.Errorf("console does not mention package version %s", k.Version)
	}
}

func TestLabExitStatusAndStreams(t *testing.T) { labtest.ForEachKernel(t, testExitStatusAndStreams) }

func testExitStatusAndStreams(t *testing.T, k *kbuild.Kernel) {
	out := labtest.Run(t, lab.RunOptions{
		Kernel: k,
		// Kernel messages printed while the command runs must not reach
		// its streams either.
		Command: []string{"sh", "-c", `echo "to stdout"; echo '<4>ksplice-lab: kernel line' > /dev/kmsg; echo 'to stderr' >&2; exit 7`},
	})
	if out.Result.ExitCode != 7 {
		t.Errorf("exit code = %d, want 7", out.Result.ExitCode)
	}
	if out.Stdout != "to stdout\n" {
		t.Errorf("stdout = %q, want %q", out.Stdout, "to stdout\n")
	}
	if out.Stderr != "to stderr\n" {
		t.Errorf("stderr = %q, want %q", out.Stderr, "to stderr\n")
	}
	if !strings.Contains(out.Console, "ksplice-lab: kernel line") {
		t.Errorf("console lacks the kernel line the command wrote to /dev/kmsg")
	}
}

func TestLabFilesAndArguments(t *testing.T) { labtest.ForEachKernel(t, testFilesAndArguments) }

func testFilesAndArguments(t *testing.T, k *kbuild.Kernel) {
	dir := t.TempDir()
	host := filepath.Join(dir, "note.txt")
	if err := os.WriteFile(host, []byte("hello from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f1, _ := lab.ParseFile(host)
	f2, _ := lab.ParseFile(host + ":/etc/other name.txt")
	out := labtest.Run(t, lab.RunOptions{
		Kernel: k,
		Files:  []lab.File{f1, f2},
		// An argument with quotes and spaces must reach the guest intact.
		Command: []string{"sh", "-c", `cat note.txt "/etc/other name.txt"; echo "$0"`, `it's "quoted"`},
	})
	want := "hello from the host\nhello from the host\nit's \"quoted\"\n"
	if out.Stdout != want {
		t.Errorf("stdout = %q, want %q", out.Stdout, want)
	}
}

func TestLabCommandNotFound(t *testing.T) { labtest.ForEachKernel(t, testCommandNotFound) }

func testCommandNotFound(t *testing.T, k *kbuild.Kernel) {
	_, err := labtest.RunErr(t, lab.RunOptions{Kernel: k, Command: []string{"no-such-command"}})
	if !errors.Is(err, lab.ErrCommandNotFound) || !strings.Contains(err.Error(), "no-such-command") {
		t.Fatalf("err = %v, want ErrCommandNotFound naming the command", err)
	}
}

// TestLabTimeout runs on the first kernel only: the timeout is the host's
// business, and the test costs its full 20 s.
func TestLabTimeout(t *testing.T) {
	_, err := labtest.RunErr(t, lab.RunOptions{Command: []string{"sleep", "600"}, Timeout: 20 * time.Second})
	if !errors.Is(err, lab.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
}

// buildHello builds testdata/kmod-hello against the lab kernel's headers.
func buildHello(t *testing.T, k *kbuild.Kernel) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hello")
	if err := labtest.CopyDir("../../testdata/kmod-hello", dir); err != nil {
		t.Fatal(err)
	}
	kos, err := kbuild.BuildModule(context.Background(), k, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	return kos[0]
}

func TestLabModuleLoadsAndUnloads(t *testing.T) { labtest.ForEachKernel(t, testModuleLoadsAndUnloads) }

func testModuleLoadsAndUnloads(t *testing.T, k *kbuild.Kernel) {
	ko := buildHello(t, k)
	f, _ := lab.ParseFile(ko)
	out := labtest.Run(t, lab.RunOptions{
		Kernel: k,
		Files:  []lab.File{f},
		Command: []string{"sh", "-ec", `
insmod ksplice_lab_hello.ko
grep -w ksplice_lab_hello /proc/modules | cut -d' ' -f1,5
rmmod ksplice_lab_hello
grep -c -w ksplice_lab_hello /proc/modules || true
dmesg | grep 'ksplice_lab_hello:'`},
	})
	wantLines := []string{
		"ksplice_lab_hello Live",
		"0",
		"ksplice_lab_hello: loaded into " + k.Release,
		"ksplice_lab_hello: unloaded",
	}
	got := out.Stdout
	for _, w := range wantLines {
		if !strings.Contains(got, w) {
			t.Errorf("guest output lacks %q:\n%s", w, got)
		}
	}
}

func TestLabKernelWarningFailsRun(t *testing.T) { labtest.ForEachKernel(t, testKernelWarningFailsRun) }

func testKernelWarningFailsRun(t *testing.T, k *kbuild.Kernel) {
	ko := buildHello(t, k)
	f, _ := lab.ParseFile(ko)
	out, err := labtest.RunErr(t, lab.RunOptions{
		Kernel:  k,
		Files:   []lab.File{f},
		Command: []string{"insmod", "ksplice_lab_hello.ko", "warn=1"},
	})
	var kp *lab.KernelProblemError
	if !errors.As(err, &kp) {
		t.Fatalf("err = %v, want a KernelProblemError", err)
	}
	if !strings.Contains(kp.Line, "WARNING:") || !strings.Contains(kp.Line, "ksplice_lab_hello") {
		t.Errorf("problem line = %q, want the WARNING in ksplice_lab_hello", kp.Line)
	}
	// The command itself succeeded: only the console tells.
	if out.Result.ExitCode != 0 {
		t.Errorf("insmod exit code = %d, want 0", out.Result.ExitCode)
	}
}

func TestLabFetchIsIdempotent(t *testing.T) { labtest.ForEachKernel(t, testFetchIsIdempotent) }

func testFetchIsIdempotent(t *testing.T, k *kbuild.Kernel) {
	stamp := filepath.Join(k.Build, ".ksplice-complete")
	before, err := os.Stat(stamp)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := lab.ParseSpec(k.Spec)
	k2, err := lab.Fetch(context.Background(), spec, lab.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if k2.Headers != k.Headers || k2.Version != k.Version {
		t.Errorf("second fetch = %+v, want %+v", k2, k)
	}
	after, err := os.Stat(stamp)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("second fetch prepared the source tree again")
	}
}

func TestLabModulesOfTheImage(t *testing.T) { labtest.ForEachKernel(t, testModulesOfTheImage) }

func testModulesOfTheImage(t *testing.T, k *kbuild.Kernel) {
	out := labtest.Run(t, lab.RunOptions{
		Kernel:  k,
		Modules: []string{"ext4"},
		Command: []string{"sh", "-c", `cut -d' ' -f1 /proc/modules | sort | tr '\n' ' '`},
	})
	for _, m := range []string{"ext4", "jbd2", "mbcache"} {
		if !strings.Contains(" "+out.Stdout, " "+m+" ") {
			t.Errorf("module %s not loaded in the guest; /proc/modules: %s", m, out.Stdout)
		}
	}
	_, err := labtest.RunErr(t, lab.RunOptions{Kernel: k, Modules: []string{"no_such_module"}, Command: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "no_such_module") {
		t.Errorf("unknown module: err = %v, want one naming it", err)
	}
}
