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
// them with KSPLICE_LAB=1). What differs between flavours (the image
// boots, its headers build a module that loads, its own modules load) is
// tested once per flavour of labtest.Flavours (KSPLICE_LAB_FLAVOURS, make's
// LAB_FLAVOURS: every flavour of each series); the rest once per kernel of
// labtest.Kernels (LAB_KERNELS: one per series and architecture).

// TestLabFlavour boots each flavour once and checks what differs between
// flavours: the guest is the fetched image (uname -r, and its version line
// names the Debian package version); the image's own modules load with
// their dependencies (ext4, vfat), and those it builds in are not loaded
// and do not fail the run; and a module built against the flavour's
// headers (testdata/kmod-hello) loads and unloads.
func TestLabFlavour(t *testing.T) { labtest.ForEachFlavour(t, testFlavour) }

// flavourScript prints uname -r, the modules loaded at boot, then loads and
// unloads ksplice_lab_hello; a line of its own separates the three parts.
const flavourScript = `uname -r
echo ---
cut -d' ' -f1 /proc/modules | sort | tr '\n' ' '
echo
echo ---
insmod ksplice_lab_hello.ko
grep -w ksplice_lab_hello /proc/modules | cut -d' ' -f1,5
rmmod ksplice_lab_hello
grep -c -w ksplice_lab_hello /proc/modules || true
dmesg | grep 'ksplice_lab_hello:'`

func testFlavour(t *testing.T, k *kbuild.Kernel) {
	ko := buildHello(t, k)
	f, _ := lab.ParseFile(ko)
	out := labtest.Run(t, lab.RunOptions{
		Kernel:  k,
		Files:   []lab.File{f},
		Modules: []string{"ext4", "vfat"},
		Command: []string{"sh", "-ec", flavourScript},
	})
	if out.Result.ExitCode != 0 {
		t.Fatalf("exit code = %d, want 0:\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
	}
	parts := strings.Split(out.Stdout, "---\n")
	if len(parts) != 3 {
		t.Fatalf("guest output has %d parts, want 3:\n%s", len(parts), out.Stdout)
	}
	t.Run("uname", func(t *testing.T) { checkUname(t, k, parts[0], out.Console) })
	t.Run("modules-of-the-image", func(t *testing.T) { checkModulesOfTheImage(t, k, parts[1]) })
	t.Run("module-loads-and-unloads", func(t *testing.T) { checkModuleLoadsAndUnloads(t, k, parts[2]) })
}

func checkUname(t *testing.T, k *kbuild.Kernel, stdout, console string) {
	if got := strings.TrimSpace(stdout); got != k.Release {
		t.Errorf("uname -r in the guest = %q, want %q", got, k.Release)
	}
	// The guest really is the fetched image: its version line names the
	// Debian package version.
	if !strings.Contains(console, k.Version) {
		t.Errorf("console does not mention package version %s", k.Version)
	}
}

// TestLabCommand runs a command with files and an argument that needs
// quoting, in one boot of each kernel: its exit status, its two streams
// kept apart (with a kernel message printed in between, which must reach
// neither), the files where the options put them, the argument intact.
func TestLabCommand(t *testing.T) { labtest.ForEachKernel(t, testCommand) }

func testCommand(t *testing.T, k *kbuild.Kernel) {
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
		Command: []string{"sh", "-c", `cat note.txt "/etc/other name.txt"; echo "$0"; echo '<4>ksplice-lab: kernel line' > /dev/kmsg; echo 'to stderr' >&2; exit 7`,
			`it's "quoted"`},
	})
	if out.Result.ExitCode != 7 {
		t.Errorf("exit code = %d, want 7", out.Result.ExitCode)
	}
	if want := "hello from the host\nhello from the host\nit's \"quoted\"\n"; out.Stdout != want {
		t.Errorf("stdout = %q, want %q", out.Stdout, want)
	}
	if out.Stderr != "to stderr\n" {
		t.Errorf("stderr = %q, want %q", out.Stderr, "to stderr\n")
	}
	if !strings.Contains(out.Console, "ksplice-lab: kernel line") {
		t.Errorf("console lacks the kernel line the command wrote to /dev/kmsg")
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

func checkModuleLoadsAndUnloads(t *testing.T, k *kbuild.Kernel, stdout string) {
	wantLines := []string{
		"ksplice_lab_hello Live",
		"0",
		"ksplice_lab_hello: loaded into " + k.Release,
		"ksplice_lab_hello: unloaded",
	}
	for _, w := range wantLines {
		if !strings.Contains(stdout, w) {
			t.Errorf("guest output lacks %q:\n%s", w, stdout)
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
	kjson := filepath.Join(k.Dir, "kernel.json")
	before, err := os.Stat(kjson)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := lab.ParseSpec(k.Spec)
	start := time.Now()
	k2, err := lab.Fetch(context.Background(), spec, lab.FetchOptions{BootOnly: k.BootOnly})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("second fetch took %v; a prepared kernel is reused in milliseconds", d)
	}
	if k2.Headers != k.Headers || k2.Version != k.Version {
		t.Errorf("second fetch = %+v, want %+v", k2, k)
	}
	after, err := os.Stat(kjson)
	if err != nil {
		t.Fatal(err)
	}
	if !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("second fetch prepared the kernel again")
	}
}

func checkModulesOfTheImage(t *testing.T, k *kbuild.Kernel, loadedModules string) {
	// The cloud flavours build ext4 in; vfat (and fat, which it needs) is
	// a module in every flavour. A module built in is not loaded, and the
	// run does not fail for it.
	b, err := os.ReadFile(filepath.Join(k.Modules, "modules.builtin"))
	if err != nil {
		t.Fatal(err)
	}
	builtin := map[string]bool{}
	for _, p := range strings.Fields(string(b)) {
		builtin[strings.TrimSuffix(filepath.Base(p), ".ko")] = true
	}
	loaded := 0
	for _, m := range []string{"ext4", "jbd2", "mbcache", "vfat", "fat"} {
		in := strings.Contains(" "+loadedModules, " "+m+" ")
		switch {
		case builtin[m] && in:
			t.Errorf("module %s is built into %s, yet listed in /proc/modules: %s", m, k.Release, loadedModules)
		case !builtin[m] && !in:
			t.Errorf("module %s not loaded in the guest; /proc/modules: %s", m, loadedModules)
		case in:
			loaded++
		}
	}
	if loaded < 2 {
		t.Errorf("%d modules loaded, want vfat and fat at least", loaded)
	}
	// Refused on the host, before a boot.
	_, err = labtest.RunErr(t, lab.RunOptions{Kernel: k, Modules: []string{"no_such_module"}, Command: []string{"true"}})
	if err == nil || !strings.Contains(err.Error(), "no_such_module") {
		t.Errorf("unknown module: err = %v, want one naming it", err)
	}
}
