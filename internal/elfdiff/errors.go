package elfdiff

import (
	"debug/elf"
	"fmt"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// sentinel is an error value that also belongs to a verdict class, so that
// errors.Is matches both the sentinel and verdict.ErrRefused or
// verdict.ErrUnsupported.
type sentinel struct {
	msg   string
	class error
}

func (s *sentinel) Error() string { return s.msg }
func (s *sentinel) Unwrap() error { return s.class }

var (
	// ErrMalformed means the input is not a well-formed ELF file: not ELF at
	// all, truncated, or with sizes and offsets that do not fit.
	ErrMalformed error = &sentinel{msg: "malformed ELF"}

	// ErrNotRelocatable means the file is ELF but not a 64-bit
	// little-endian relocatable object (ET_REL), such as vmlinux or a .so.
	ErrNotRelocatable error = &sentinel{msg: "not a 64-bit little-endian relocatable object", class: verdict.ErrUnsupported}

	// ErrUnsupportedArch is arch.ErrUnsupportedArch: a machine other than
	// x86-64 or AArch64.
	ErrUnsupportedArch = arch.ErrUnsupportedArch

	// ErrUnsupportedReloc is arch.ErrUnsupportedReloc: a relocation type
	// elfdiff cannot compare. It is never skipped.
	ErrUnsupportedReloc = arch.ErrUnsupportedReloc

	// ErrArchMismatch means the two objects are for different machines.
	ErrArchMismatch error = &sentinel{msg: "objects of different architectures", class: verdict.ErrRefused}

	// ErrNoFunctionSections means an object was built without
	// -ffunction-sections, so functions cannot be told apart safely.
	ErrNoFunctionSections error = &sentinel{msg: "object not built with -ffunction-sections -fdata-sections", class: verdict.ErrRefused}

	// ErrRefused means the diff found changes an update cannot carry; the
	// Result's Refusals say which and why.
	ErrRefused error = &sentinel{msg: "update refused", class: verdict.ErrRefused}
)

// FormatError reports malformed input. It unwraps to ErrMalformed.
type FormatError struct {
	Section string // the section involved, if any
	Msg     string
}

func (e *FormatError) Error() string {
	if e.Section != "" {
		return fmt.Sprintf("malformed ELF: section %s: %s", e.Section, e.Msg)
	}
	return "malformed ELF: " + e.Msg
}

func (e *FormatError) Unwrap() error { return ErrMalformed }

// RelocError reports a relocation elfdiff cannot handle: an unknown type or
// a bad symbol index. It unwraps to the cause (ErrUnsupportedReloc or
// ErrMalformed).
type RelocError struct {
	Section string // the section the relocation applies to
	Offset  uint64
	Type    string // e.g. "R_X86_64_GOTOFF64"
	Err     error
}

func (e *RelocError) Error() string {
	return fmt.Sprintf("relocation %s at %s+%#x: %v", e.Type, e.Section, e.Offset, e.Err)
}

func (e *RelocError) Unwrap() error { return e.Err }

// ArchError reports two objects of different machines. It unwraps to
// ErrArchMismatch.
type ArchError struct {
	Pre, Post elf.Machine
}

func (e *ArchError) Error() string {
	return fmt.Sprintf("%v: pre is %v, post is %v", ErrArchMismatch, e.Pre, e.Post)
}

func (e *ArchError) Unwrap() error { return ErrArchMismatch }

// NoFunctionSectionsError names the section holding several functions. It
// unwraps to ErrNoFunctionSections.
type NoFunctionSectionsError struct {
	Section   string
	Functions []string
}

func (e *NoFunctionSectionsError) Error() string {
	return fmt.Sprintf("%v: section %s holds %d functions (%s, ...); rebuild with KCFLAGS='-ffunction-sections -fdata-sections'",
		ErrNoFunctionSections, e.Section, len(e.Functions), e.Functions[0])
}

func (e *NoFunctionSectionsError) Unwrap() error { return ErrNoFunctionSections }

// RefusedError lists the refusals of a diff. It unwraps to ErrRefused and
// to each refusal, so errors.Is(err, ErrDataChanged) tells whether one
// refusal was of that rule.
type RefusedError struct {
	Refusals []Refusal
}

func (e *RefusedError) Error() string {
	r := e.Refusals[0]
	msg := fmt.Sprintf("%v: %s: %s", ErrRefused, Display(r.Symbol), r.Reason)
	if len(e.Refusals) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(e.Refusals)-1)
	}
	return msg
}

func (e *RefusedError) Unwrap() []error {
	errs := []error{ErrRefused}
	for _, r := range e.Refusals {
		errs = append(errs, r)
	}
	return errs
}
