package kbuild

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/ksplice-go/ksplice/internal/run"
)

// BuildModule builds the out-of-tree module whose Kbuild file is in dir
// against k's headers, the way the distribution builds its own modules, and
// returns the paths of the .ko files it made. dir must be writable: Kbuild
// writes its output beside the sources. vars are extra make variables, such
// as KBUILD_EXTRA_SYMBOLS. Compiler errors are in the returned
// *run.Error.
func BuildModule(ctx context.Context, k *Kernel, dir string, log io.Writer, vars ...string) ([]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	args := append([]string{"-C", k.Headers, "M=" + abs, "-j2"}, vars...)
	args = append(args, "modules")
	a, err := k.Machine()
	if err != nil {
		return nil, err
	}
	if foreign(a) {
		args = append(args, "ARCH="+a.SrcArch, "CROSS_COMPILE="+crossCompile(a))
	}
	mk := run.New("make", args...)
	mk.Stderr = log
	if err := mk.Run(ctx); err != nil {
		return nil, fmt.Errorf("build module in %s: %w", dir, err)
	}
	kos, _ := filepath.Glob(filepath.Join(abs, "*.ko"))
	if len(kos) == 0 {
		return nil, fmt.Errorf("build module in %s: make made no .ko", dir)
	}
	return kos, nil
}
