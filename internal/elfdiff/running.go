package elfdiff

import (
	"debug/elf"
	"fmt"
)

// The diff works on objects built with -ffunction-sections -fdata-sections
// (one section per function and per data object), which is what lets it
// compare and carry them one by one. Those flags change code on arm64:
// -fdata-sections turns off gcc's section anchors (a file's statics are
// then addressed one by one instead of from a shared anchor, with other
// instructions and another register allocation) and -ffunction-sections
// moves loop alignment padding, so up to half of an object's functions
// differ from the running kernel's (docs/lab.md). The old code run-pre
// matching compares must be the running kernel's, so it comes from a third
// object, built with the kernel's own flags: its functions are located by
// symbol inside the one .text, with their relocations cut by offset and
// resolved like any other (a reference through an anchor, .bss+0xa00,
// resolves to the object that contains that offset).

// UseRunning attaches f, the pre-patch object built with the kernel's own
// flags, to the result: each function of the pre object gets its
// counterpart in f by name (FuncDiff.Running), and Running lists those
// without one. It is an error for f to be of another architecture, or not
// the same source (a pre-patch function set that differs beyond what
// inlining explains is reported, not guessed at: see RunningMissing).
func (r *Result) UseRunning(f *File) error {
	if r.Pre != nil && f.Arch != r.Pre.Arch {
		return fmt.Errorf("%w: running object is %s, the pre object %s", ErrUnsupportedArch, f.Arch.Name, r.Pre.Arch.Name)
	}
	byName := map[string]*Function{}
	dup := map[string]bool{}
	for _, fn := range f.Functions {
		if byName[fn.Name] != nil {
			dup[fn.Name] = true
		}
		byName[fn.Name] = fn
	}
	r.Running = f
	r.RunningMissing = nil
	for _, fd := range r.Functions {
		fd.Running = nil
		if fd.Pre == nil {
			continue
		}
		if dup[fd.Pre.Name] {
			r.RunningMissing = append(r.RunningMissing, fd.Pre.Name)
			continue
		}
		if fn := byName[fd.Pre.Name]; fn != nil {
			fd.Running = fn
			r.runningJump(f, fd)
			continue
		}
		r.RunningMissing = append(r.RunningMissing, fd.Pre.Name)
	}
	return nil
}

// runningJump decides fd's direct jump window again on its running
// counterpart: the engine writes the jump over the running kernel's code,
// whose first instructions may differ from the pre object's (another
// alignment, another register), so the window the diff found there is
// only a guess. A window that does not hold on the running code is a
// refusal, with its reason.
func (r *Result) runningJump(running *File, fd *FuncDiff) {
	if fd.Jump == nil || fd.Post == nil {
		return
	}
	d := &differ{pre: running, res: r}
	w, why := d.jumpWindow(fd.Running, fd.Post)
	if w == nil {
		fd.Jump = nil
		d.refusal(fd.Name, fd.Post.Section.Name, RuleNoFtraceSite,
			"%s has no ftrace call site (notrace, or built without -pg), and no direct jump can replace it in the kernel's own build of its object: %s; "+
				"patch its callers instead", fd.Running.Name, why)
		return
	}
	fd.Jump = w
}

// RunningOnly returns the functions of the running object that the pre
// object does not have (the compiler inlined or cloned differently
// without section flags), by name; nil without a running object.
func (r *Result) RunningOnly() []string {
	if r.Running == nil || r.Pre == nil {
		return nil
	}
	have := map[string]bool{}
	for _, fn := range r.Pre.Functions {
		have[fn.Name] = true
	}
	var out []string
	for _, fn := range r.Running.Functions {
		if !have[fn.Name] {
			out = append(out, fn.Name)
		}
	}
	return out
}

// OldCode returns the old code run-pre matching compares for fd: its
// counterpart in the running object when the result has one
// (UseRunning), else its pre-patch function. ok is false when the running
// object has no such function.
func (r *Result) OldCode(fd *FuncDiff) (fn *Function, ok bool) {
	if r.Running == nil {
		return fd.Pre, fd.Pre != nil
	}
	return fd.Running, fd.Running != nil
}

// RunningDefinition returns the function or data object symbol called
// name that the running object defines, when exactly one does: where it
// lies relative to the other definitions of its section, which the kernel
// links whole. Nil without a running object.
func (r *Result) RunningDefinition(name string) *Symbol {
	f := r.Running
	if f == nil {
		return nil
	}
	var found *Symbol
	for _, s := range f.Symbols[1:] {
		if s.Name != name || s.Section == nil || (s.Type != elf.STT_FUNC && s.Type != elf.STT_OBJECT) {
			continue
		}
		if found != nil {
			return nil
		}
		found = s
	}
	return found
}
