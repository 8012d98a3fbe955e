package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// Make builds the test objects of dir, a testdata directory with a
// Makefile, with make -j2 (a no-op when they are up to date). The test
// binaries of several packages may build the same directory at once (go
// test ./... runs them in parallel): a lock on the Makefile lets one make
// run at a time. A missing tool (make, a compiler the project installs,
// scripts/deps.sh) is an error, never a reason to skip: tests that need
// the objects fail.
func Make(dir string) error {
	if _, err := exec.LookPath("make"); err != nil {
		return fmt.Errorf("build the test objects of %s: %w (make deps installs it)", dir, err)
	}
	f, err := os.Open(filepath.Join(dir, "Makefile"))
	if err != nil {
		return fmt.Errorf("build the test objects: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("build the test objects: lock %s: %w", f.Name(), err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	out, err := exec.Command("make", "-s", "-j2", "-C", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("build the test objects: make -C %s: %w (make deps installs the compilers)\n%s", dir, err, out)
	}
	return nil
}

// MainMake is a TestMain's first step: it builds the test objects of
// every dir with Make, and exits with status 1 when one fails.
func MainMake(dirs ...string) {
	for _, d := range dirs {
		if err := Make(d); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
