package elfdiff

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/arch/arm64/arm64asm"
	"golang.org/x/arch/x86/x86asm"
)

// JumpWindow is where the engine writes a direct jump to the replacement
// of a function that has no ftrace site (docs/kernel-interface.md, "Direct
// jumps"): Len bytes at Offset of the old function, whole instructions
// that hold no branch target, no site the kernel rewrites and, on x86-64,
// no relocation (arm64's engine checks the bytes run-pre matched,
// relocated fields included). The jump lands at Dest in the replacement.
type JumpWindow struct {
	Offset int `json:"offset"`
	Len    int `json:"len"`
	Dest   int `json:"dest"`
}

// Instructions at a function's entry that the window goes after.
var (
	x86Endbr64 = []byte{0xf3, 0x0f, 0x1e, 0xfa}
)

const (
	a64BtiC    = 0xd503245f // bti c
	a64Paciasp = 0xd503233f // paciasp (a landing pad for bti c too)
	a64Len     = 4
	x86JmpLen  = 5
	// adrp x16, dest; add x16, x16, :lo12:dest; br x16: +-4 GiB, the
	// shape of the kernel's own module PLT entries.
	a64LongLen = 12
)

// unsafeJumpSections hold code that runs where a breakpoint, and so the
// int3 a direct jump is written under on x86-64, cannot be taken, or
// where the engine's stop_machine cannot wait for it: entry and
// exception code, noinstr, idle, kprobes' own handlers.
var unsafeJumpSections = map[string]string{
	".noinstr.text":      "noinstr code (it runs where instrumentation, a breakpoint included, is not allowed: entry, NMI, idle)",
	".entry.text":        "entry code",
	".cpuidle.text":      "idle code (it runs with RCU not watching)",
	".kprobes.text":      "kprobes' own code (__kprobes: it runs in the breakpoint handler)",
	".irqentry.text":     "interrupt entry code",
	".softirqentry.text": "softirq entry code",
	".head.text":         "early boot code",
	".hyp.text":          "hypervisor code (it runs at EL2)",
	".idmap.text":        "identity-mapped code",
	".hyp.idmap.text":    "identity-mapped code",
}

// ftraceObjects are the code ftrace itself runs in every traced call:
// its core (and so the engine's own ftrace-based redirection), the graph
// tracer, the function tracer's callback and its clock. A breakpoint in
// them, under which a direct jump is written, would be taken by the
// tracer inside the breakpoint handler's own traced calls. (The rest of
// kernel/trace/, also built without -pg, runs in tracing's slower paths:
// its functions take a direct jump like any other.)
var ftraceObjects = []string{"kernel/trace/ftrace.o", "kernel/trace/fgraph.o",
	"kernel/trace/trace_functions.o", "kernel/trace/trace_clock.o"}

// sitesInWindow are the special sections whose entries mark code the
// kernel rewrites at run time, or reads as code: none may lie in the
// window. (.orc_unwind*, __bug_table and __ex_table describe instructions
// that no longer run once the jump is in place: harmless.)
var sitesInWindow = map[string]bool{
	"__jump_table": true, ".altinstructions": true, ".parainstructions": true,
	".static_call_sites": true, ".smp_locks": true, ".retpoline_sites": true,
	".return_sites": true, ".call_sites": true, ".ibt_endbr_seal": true,
	"__mcount_loc": true, "__patchable_function_entries": true,
}

// jumpWindow decides whether the replaced function f (pre) without an
// ftrace site can take a direct jump, and where; g is its post version.
// It returns the reason when not.
func (d *differ) jumpWindow(f, g *Function) (*JumpWindow, string) {
	if why := unsafeJumpSections[baseSection(f.Section.Name)]; why != "" {
		return nil, fmt.Sprintf("%s is %s (section %s): ksplice cannot patch it safely", f.Name, why, f.Section.Name)
	}
	for _, o := range ftraceObjects {
		if p := filepath.ToSlash(d.pre.Path); p == o || strings.HasSuffix(p, "/"+o) {
			return nil, fmt.Sprintf("%s is code ftrace runs in every traced call (%s), ksplice's own ftrace redirection included: ksplice cannot patch it safely", f.Name, o)
		}
	}
	if d.noKprobe(f) {
		return nil, fmt.Sprintf("%s is NOKPROBE_SYMBOL: it runs in the breakpoint handler's path, where the int3 a direct jump is written under would recurse", f.Name)
	}
	var w JumpWindow
	switch d.pre.Arch.Machine {
	case elf.EM_X86_64:
		w.Len = x86JmpLen
		if isEndbr64(f.Code) {
			w.Offset = len(x86Endbr64)
		}
	case elf.EM_AARCH64:
		w.Len = a64Len
		if len(f.Code) >= a64Len {
			switch binary.LittleEndian.Uint32(f.Code) {
			case a64BtiC:
				w.Offset = a64Len
			case a64Paciasp:
				// paciasp signed the return address already: the
				// jump must skip the replacement's own.
				if len(g.Code) < a64Len || binary.LittleEndian.Uint32(g.Code) != a64Paciasp {
					return nil, fmt.Sprintf("%s starts with paciasp and its new version does not: a direct jump after the old one would sign its return address twice", f.Name)
				}
				w.Offset, w.Dest = a64Len, a64Len
			}
		}
		// The long form (adrp x16; add x16; br x16) when the function
		// allows it: the engine writes it only when "b" does not reach
		// the replacement (a module placed by KASLR in a 2 GiB region),
		// and the one-instruction "b" in the window's first word
		// otherwise.
		long := w
		long.Len = a64LongLen
		if why := d.windowRefusal(f, long); why == "" {
			return &long, ""
		}
	default:
		return nil, fmt.Sprintf("%s: no direct jump on %s", f.Name, d.pre.Arch.Name)
	}
	if why := d.windowRefusal(f, w); why != "" {
		return nil, why
	}
	return &w, ""
}

// windowRefusal says why the jump window w of f cannot be written, or
// "" when it can.
func (d *differ) windowRefusal(f *Function, w JumpWindow) string {
	end, err := windowEnd(d.pre.Arch.Machine, f.Code, w.Offset, w.Len)
	if err != nil {
		return fmt.Sprintf("%s is too short or undecodable for a %d-byte jump at +%#x: %v", f.Name, w.Len, w.Offset, err)
	}
	// A relocated field in the overwritten bytes. On x86-64 the engine
	// checks the window byte for byte against the old code, where
	// run-pre matched the field as a wildcard: refused. On arm64 the
	// engine keeps the bytes run-pre matched in the running code,
	// relocated fields included, and checks the window against them, so
	// an adrp or a bl among the first instructions is no obstacle. The
	// rest of an instruction the jump cuts into never runs again (no
	// branch leads there, below), relocated or not.
	if d.pre.Arch.Machine != elf.EM_AARCH64 {
		for _, r := range f.Relocs {
			size := max(r.Info.Size, 1)
			if int(r.Offset) < w.Offset+w.Len && int(r.Offset)+size > w.Offset {
				return fmt.Sprintf("%s has a relocation at +%#x, inside the %d bytes a direct jump would overwrite at +%#x", f.Name, r.Offset, w.Len, w.Offset)
			}
		}
	}
	for _, e := range f.Entries {
		if sitesInWindow[e.Special.Name] && e.Anchor >= 0 && int(e.Anchor) < end && int(e.Anchor) >= w.Offset {
			return fmt.Sprintf("%s has a %s entry at +%#x, inside the %d bytes a direct jump would overwrite at +%#x", f.Name, e.Special.Name, e.Anchor, w.Len, w.Offset)
		}
	}
	if t, ok := branchInto(d.pre.Arch.Machine, f, w.Offset, end); ok {
		return fmt.Sprintf("%s branches to +%#x, inside the %d bytes a direct jump would overwrite at +%#x", f.Name, t, w.Len, w.Offset)
	}
	if off, ok := d.refInto(f, w.Offset, end); ok {
		return fmt.Sprintf("the object refers to %s+%#x, inside the %d bytes a direct jump would overwrite at +%#x", f.Name, off, w.Len, w.Offset)
	}
	return ""
}

// baseSection maps .text.NAME-style per-function sections to the section
// kind they belong to (".noinstr.text" stays as is).
func baseSection(name string) string {
	for s := range unsafeJumpSections {
		if name == s || strings.HasPrefix(name, s+".") {
			return s
		}
	}
	return name
}

// noKprobe reports whether the object lists f in _kprobe_blacklist
// (NOKPROBE_SYMBOL).
func (d *differ) noKprobe(f *Function) bool {
	for _, s := range d.pre.Sections[1:] {
		if s.Name != "_kprobe_blacklist" {
			continue
		}
		for _, r := range s.Relocs {
			if r.Target.Sym != nil && r.Target.Sym.Function() == f {
				return true
			}
		}
	}
	return false
}

// windowEnd decodes code from its start and returns the end of the last
// instruction that overlaps [off, off+n): the window must start on an
// instruction and every instruction up to there must decode.
func windowEnd(m elf.Machine, code []byte, off, n int) (int, error) {
	if len(code) < off+n {
		return 0, fmt.Errorf("the function is %d bytes", len(code))
	}
	pos := 0
	for pos < off+n {
		l, err := insnLen(m, code[pos:])
		if err != nil {
			return 0, fmt.Errorf("at +%#x: %v", pos, err)
		}
		if pos < off && pos+l > off {
			return 0, fmt.Errorf("+%#x is inside an instruction", off)
		}
		pos += l
	}
	if pos > len(code) {
		return 0, fmt.Errorf("the last instruction runs past the end")
	}
	return pos, nil
}

func insnLen(m elf.Machine, b []byte) (int, error) {
	if m == elf.EM_AARCH64 {
		if len(b) < 4 {
			return 0, fmt.Errorf("truncated")
		}
		return 4, nil
	}
	if isEndbr64(b) {
		return len(x86Endbr64), nil
	}
	in, err := x86asm.Decode(b, 64)
	if err != nil {
		return 0, err
	}
	return in.Len, nil
}

// isEndbr64 reports whether b starts with endbr64, which x86asm does not
// know (it is a hint NOP: 0f 1e with a rep prefix).
func isEndbr64(b []byte) bool {
	return len(b) >= len(x86Endbr64) && string(b[:len(x86Endbr64)]) == string(x86Endbr64)
}

// branchInto reports a direct branch of f whose target is in [lo, hi).
// Branches with a relocation go elsewhere (calls, tail calls) and are
// skipped.
func branchInto(m elf.Machine, f *Function, lo, hi int) (int, bool) {
	relocAt := func(a, b int) bool {
		for _, r := range f.Relocs {
			if int(r.Offset) >= a && int(r.Offset) < b {
				return true
			}
		}
		return false
	}
	for pos := 0; pos < len(f.Code); {
		var l, t int
		var ok bool
		if m == elf.EM_AARCH64 {
			l = 4
			if pos+4 > len(f.Code) {
				return 0, false
			}
			in, err := arm64asm.Decode(f.Code[pos : pos+4])
			if err == nil {
				for _, a := range in.Args {
					if pc, isPC := a.(arm64asm.PCRel); isPC {
						t, ok = pos+int(pc), true
					}
				}
			}
		} else if isEndbr64(f.Code[pos:]) {
			l = len(x86Endbr64)
		} else {
			in, err := x86asm.Decode(f.Code[pos:], 64)
			if err != nil {
				// Data in code, or padding: nothing to learn.
				pos++
				continue
			}
			l = in.Len
			for _, a := range in.Args {
				if rel, isRel := a.(x86asm.Rel); isRel {
					t, ok = pos+l+int(rel), true
				}
			}
		}
		if ok && t >= lo && t < hi && !relocAt(pos, pos+l) {
			return t, true
		}
		pos += l
	}
	return 0, false
}

// refInto reports a relocation anywhere in the object that points into
// [lo, hi) of f (a jump table, an exception fixup's continuation), other
// than its entry when the window starts there.
func (d *differ) refInto(f *Function, lo, hi int) (int, bool) {
	for _, s := range d.pre.Sections[1:] {
		switch s.Name {
		case "__mcount_loc", "__patchable_function_entries", ".ibt_endbr_seal", ".orc_unwind_ip", "__bug_table":
			continue // describe f's own instructions
		}
		for _, r := range s.Relocs {
			if r.Target.Sym == nil || r.Target.Sym.Function() != f {
				continue
			}
			off := int(r.Target.Off)
			if off == 0 && lo == 0 {
				continue
			}
			if off >= lo && off < hi {
				return off, true
			}
		}
	}
	return 0, false
}
