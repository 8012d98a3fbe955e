package testutil

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"

	"github.com/ksplice-go/ksplice/internal/run"
)

// Make builds the test objects of dir, a testdata directory with a
// Makefile, with make -j2 (a no-op when they are up to date). The test
// binaries of several packages may build the same directory at once (go
// test ./... runs them in parallel): a lock on the Makefile lets one make
// run at a time. A missing tool (make, a compiler the project installs,
// scripts/deps.sh) is an error, never a reason to skip: tests that need
// the objects fail.
func Make(dir string) error {
	if _, err := run.LookTool("make", "make"); err != nil {
		return fmt.Errorf("build the test objects of %s: %w", dir, err)
	}
	lock := flock.New(filepath.Join(dir, "Makefile"))
	if err := lock.Lock(); err != nil {
		return fmt.Errorf("build the test objects: lock %s: %w", lock.Path(), err)
	}
	defer lock.Unlock()
	if err := run.New("make", "-s", "-j2", "-C", dir).Run(context.Background()); err != nil {
		return fmt.Errorf("build the test objects (make deps installs the compilers): %w", err)
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
