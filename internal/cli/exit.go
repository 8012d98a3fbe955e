package cli

import (
	"errors"

	"github.com/ksplice-go/ksplice/internal/verdict"
)

// Exit codes are part of ksplice's interface: CI scripts branch on them.
// Keep them stable. For the repository commands (docs/repository.md):
// upgrade exits ExitOK with nothing to do, ExitError on a network or disk
// error (nothing applied), ExitUsage with no repository given or
// configured, and ExitRefused when the index's signature or a tarball's
// sha256 does not verify (nothing applied) or the kernel refused an update;
// publish exits ExitRefused on a conflicting id. Those refusals wrap
// verdict.ErrRefused (repo.ErrSignature, repo.ErrChecksum,
// repo.ErrConflict, repo.ErrUnsigned), so exitCode maps them like any
// other.
const (
	ExitOK          = 0 // the command did what was asked
	ExitError       = 1 // something went wrong; the message says what
	ExitUsage       = 2 // the command line was wrong
	ExitRefused     = 3 // the kernel, the patch or the update's signature said no, with a reason
	ExitUnsupported = 4 // architecture, kernel or environment not supported
)

// usageError marks an error in the command line itself.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// statusError carries an exit status decided by something else, such as the
// status of a command run inside a lab guest. It prints nothing of its own
// when msg is empty.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

// exitCode maps an error returned by a command to the process exit code.
func exitCode(err error) int {
	var ue *usageError
	var se *statusError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &se):
		return se.code
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, verdict.ErrRefused):
		return ExitRefused
	case errors.Is(err, verdict.ErrUnsupported):
		return ExitUnsupported
	default:
		return ExitError
	}
}
