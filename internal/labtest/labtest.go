// Package labtest helps tests boot lab kernels: it gates them on
// KSPLICE_LAB=1 (make test sets it), says which kernels to run on, fetches
// each once per process, and provides a statically linked ksplice for each
// guest architecture.
//
// Two lists of kernels. Kernels (KSPLICE_LAB_KERNELS, make's LAB_KERNELS)
// are one kernel of each series and architecture: the lab's own tests run
// in full on each (ForEachKernel), and an update test that needs a kernel
// of an architecture runs when it is listed. Update tests take their
// kernels with Kernel (KSPLICE_LAB_KERNEL) and KernelFor, fetched with
// their source trees.
// Flavours (KSPLICE_LAB_FLAVOURS, make's LAB_FLAVOURS) are every flavour
// Debian ships, on which the lab's boot, uname and module tests run once
// (ForEachFlavour). The lab's own tests fetch for booting only
// (BootKernelFor), unless an update test needs the same kernel prepared.
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

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/lab"
)

// DefaultKernel is the kernel lab tests boot unless KSPLICE_LAB_KERNEL says
// otherwise; DefaultArm64Kernel is added by KSPLICE_LAB_ARM64=1.
const (
	DefaultKernel      = "debian:6.1.0-55-amd64"
	DefaultArm64Kernel = "debian:6.1.0-55-arm64"
)

type fetchKey struct {
	spec     string
	bootOnly bool
}

type fetched struct {
	once   sync.Once
	kernel *kbuild.Kernel
	err    error
}

var (
	fetchMu sync.Mutex
	fetches = map[fetchKey]*fetched{}

	binMu  sync.Mutex
	binDir string
	bins   = map[string]*built{} // by GOARCH
)

type built struct {
	once sync.Once
	path string
	err  error
}

// Enabled says whether lab tests run: KSPLICE_LAB=1.
func Enabled() bool { return os.Getenv("KSPLICE_LAB") == "1" }

// Kernels returns the specs of the kernels that tests running on every lab
// kernel (ForEachKernel) use: the space- or comma-separated list in
// KSPLICE_LAB_KERNELS, else the one kernel of Kernel, plus
// DefaultArm64Kernel when KSPLICE_LAB_ARM64=1.
func Kernels() []string {
	specs := splitList(os.Getenv("KSPLICE_LAB_KERNELS"))
	if len(specs) == 0 {
		specs = []string{primary()}
	}
	if os.Getenv("KSPLICE_LAB_ARM64") == "1" {
		has := false
		for _, s := range specs {
			has = has || s == DefaultArm64Kernel
		}
		if !has {
			specs = append(specs, DefaultArm64Kernel)
		}
	}
	return specs
}

// primary is the kernel of tests that run on one kernel only:
// KSPLICE_LAB_KERNEL, else the first of KSPLICE_LAB_KERNELS, else
// DefaultKernel.
func primary() string {
	if name := os.Getenv("KSPLICE_LAB_KERNEL"); name != "" {
		return name
	}
	if f := splitList(os.Getenv("KSPLICE_LAB_KERNELS")); len(f) > 0 {
		return f[0]
	}
	return DefaultKernel
}

// Kernel skips t unless lab tests are enabled, and returns the prepared
// kernel under test (KSPLICE_LAB_KERNEL), fetching it on first use.
func Kernel(t testing.TB) *kbuild.Kernel {
	t.Helper()
	return KernelFor(t, primary())
}

// Flavours returns the specs of the kernels ForEachFlavour runs on: the
// space- or comma-separated list in KSPLICE_LAB_FLAVOURS, else Kernels.
func Flavours() []string {
	if specs := splitList(os.Getenv("KSPLICE_LAB_FLAVOURS")); len(specs) > 0 {
		return specs
	}
	return Kernels()
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == ',' || r == '\n' || r == '\t' })
}

// KernelFor skips t unless lab tests are enabled, and returns the prepared
// kernel spec, fetching it on first use.
func KernelFor(t testing.TB, spec string) *kbuild.Kernel {
	t.Helper()
	return fetchFor(t, spec, false)
}

// BootKernelFor is KernelFor for tests that only boot the kernel and build
// modules for it: the kernel is fetched without its source tree
// (lab.FetchOptions.BootOnly), unless it is prepared already.
func BootKernelFor(t testing.TB, spec string) *kbuild.Kernel {
	t.Helper()
	return fetchFor(t, spec, true)
}

func fetchFor(t testing.TB, spec string, bootOnly bool) *kbuild.Kernel {
	t.Helper()
	if !Enabled() {
		t.Skip("lab test: set KSPLICE_LAB=1 (make test does) to boot real kernels")
	}
	fetchMu.Lock()
	key := fetchKey{spec, bootOnly}
	f := fetches[key]
	if f == nil {
		f = &fetched{}
		fetches[key] = f
	}
	fetchMu.Unlock()
	f.once.Do(func() {
		s, err := lab.ParseSpec(spec)
		if err != nil {
			f.err = err
			return
		}
		f.kernel, f.err = lab.Fetch(context.Background(), s, lab.FetchOptions{BootOnly: bootOnly})
	})
	if f.err != nil {
		t.Fatalf("fetch lab kernel %s: %v", spec, f.err)
	}
	return f.kernel
}

// ForEachKernel runs test once per kernel of Kernels, fetched for booting
// (BootKernelFor), as a subtest named after the kernel's release
// ("6.1.0-55-arm64"). It skips t unless lab tests are enabled.
func ForEachKernel(t *testing.T, test func(t *testing.T, k *kbuild.Kernel)) {
	t.Helper()
	forEach(t, Kernels(), test)
}

// ForEachFlavour is ForEachKernel over Flavours: subtests named
// "6.12.117+deb12-rt-amd64" and so on.
func ForEachFlavour(t *testing.T, test func(t *testing.T, k *kbuild.Kernel)) {
	t.Helper()
	forEach(t, Flavours(), test)
}

func forEach(t *testing.T, specs []string, test func(t *testing.T, k *kbuild.Kernel)) {
	t.Helper()
	if !Enabled() {
		t.Skip("lab test: set KSPLICE_LAB=1 (make test does) to boot real kernels")
	}
	for _, spec := range specs {
		_, release, _ := strings.Cut(spec, ":")
		t.Run(release, func(t *testing.T) { test(t, BootKernelFor(t, spec)) })
	}
}

// GOARCH returns Go's name for k's architecture.
func GOARCH(t testing.TB, k *kbuild.Kernel) string {
	t.Helper()
	a, err := k.Machine()
	if err != nil {
		t.Fatal(err)
	}
	return a.GOARCH
}

// GuestBinary returns a statically linked ksplice for the host's
// architecture; see GuestBinaryFor.
func GuestBinary(t testing.TB) string {
	t.Helper()
	return GuestBinaryFor(t, runtime.GOARCH)
}

// GuestBinaryFor returns a statically linked ksplice for goarch. With
// $KSPLICE_BIN set (make test sets it to bin/ksplice) that binary serves the
// host's architecture and bin/ksplice-linux-GOARCH beside it the others, as
// make build makes them. Otherwise it is built once per architecture into a
// temporary directory, named the same way, so that a host binary from there
// finds its guest binaries as bin/ksplice does.
func GuestBinaryFor(t testing.TB, goarch string) string {
	t.Helper()
	if env := os.Getenv("KSPLICE_BIN"); env != "" {
		if goarch == runtime.GOARCH {
			return env
		}
		other := filepath.Join(filepath.Dir(env), "ksplice-linux-"+goarch)
		if _, err := os.Stat(other); err != nil {
			t.Fatalf("no ksplice for %s guests beside $KSPLICE_BIN: %v (make build makes it)", goarch, err)
		}
		return other
	}
	binMu.Lock()
	if binDir == "" {
		dir, err := os.MkdirTemp("", "ksplice-labtest-")
		if err != nil {
			binMu.Unlock()
			t.Fatal(err)
		}
		binDir = dir
	}
	b := bins[goarch]
	if b == nil {
		b = &built{}
		bins[goarch] = b
	}
	dir := binDir
	binMu.Unlock()
	b.once.Do(func() {
		name := filepath.Join(dir, "ksplice")
		if goarch != runtime.GOARCH {
			name = filepath.Join(dir, "ksplice-linux-"+goarch)
		}
		cmd := exec.Command("go", "build", "-o", name, "github.com/ksplice-go/ksplice/cmd/ksplice")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = &buildError{out: string(out), err: err}
		}
		b.path = name
	})
	if b.err != nil {
		t.Fatalf("build guest ksplice for %s: %v", goarch, b.err)
	}
	return b.path
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
		opts.GuestBinary = GuestBinaryFor(t, GOARCH(t, opts.Kernel))
	}
	// KSPLICE_LAB_MTTCG=1 runs the guest's vCPUs in host threads of
	// their own, to reproduce what the one-thread default avoids
	// (lab.RunOptions.MultiThreadTCG).
	if os.Getenv("KSPLICE_LAB_MTTCG") == "1" {
		opts.MultiThreadTCG = true
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

// CopyDir copies the regular files of src (not its subdirectories) into a
// new directory dst; tests use it to build testdata modules out of tree.
func CopyDir(src, dst string) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
