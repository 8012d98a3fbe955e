// Package verdict names the classes of failure that every ksplice command
// reports, so that packages deep in the stack can say "refused" or
// "unsupported" without knowing about exit codes, and the CLI can map them to
// its stable exit codes in one place.
//
// Packages wrap these sentinels with context:
//
//	fmt.Errorf("%w: qemu-system-x86_64 not found (apt-get install qemu-system-x86)", verdict.ErrUnsupported)
//
// and callers test them with errors.Is.
package verdict

import "errors"

var (
	// ErrRefused means the kernel or the patch said no, for a reason the
	// error names: the update would not be safe, or cannot be built.
	ErrRefused = errors.New("refused")

	// ErrUnsupported means the architecture, kernel or environment is one
	// ksplice does not handle (yet): a missing tool, an unknown kernel.
	ErrUnsupported = errors.New("unsupported")
)
