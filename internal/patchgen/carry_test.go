package patchgen

import (
	"bytes"
	"debug/elf"
	"errors"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

// TestAnonymousReadOnlyDataIsCopied: a jump table lives in an anonymous
// section (.rodata.dispatch) that the running kernel has no name for. The
// update must carry a copy with its relocations rebased onto the new code,
// and the new code must address the copy, on both architectures.
func TestAnonymousReadOnlyDataIsCopied(t *testing.T) {
	for _, c := range []struct{ arch, cc string }{{"x86_64", "gcc"}, {"arm64", arm64CC}} {
		t.Run(c.arch, func(t *testing.T) {
			res := diffPairArch(t, c.arch, "jumptable")
			m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "jumptable.o", Result: res}},
				Exported: func(string) bool { return false }})
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			var orig *elfdiff.Section
			for _, s := range res.Post.Sections[1:] {
				if s.Name == ".rodata.dispatch" {
					orig = s
				}
			}
			if orig == nil {
				t.Fatal("the test object has no .rodata.dispatch: rebuild testdata")
			}
			f := assembleWith(t, c.cc, m.Files["new.S"])
			var table, code *elf.Section
			for _, s := range f.Sections {
				switch {
				case strings.HasPrefix(s.Name, ".ksplice.rodata."):
					table = s
				case strings.HasPrefix(s.Name, ".ksplice.text.ksplice_n"): // not the veneers
					code = s
				}
			}
			if table == nil || code == nil {
				t.Fatalf("new.S carries no copy of the table (sections %v)", sectionNames(f))
			}
			b, _ := table.Data()
			if !bytes.Equal(b, orig.Data) {
				t.Errorf("copied table differs from .rodata.dispatch:\n% x\n% x", b, orig.Data)
			}
			syms, _ := f.Symbols()
			tableSym := table.Name[len(".ksplice.rodata."):]
			codeSym := code.Name[len(".ksplice.text."):]
			if n := relocsTo(t, f, code, syms, tableSym); n == 0 {
				t.Errorf("the new code does not address the copied table %s", tableSym)
			}
			if want := len(orig.Relocs); relocsTo(t, f, table, syms, codeSym) != want {
				t.Errorf("the copied table has %d relocations to the new code %s, want %d", relocsTo(t, f, table, syms, codeSym), codeSym, want)
			}
		})
	}
}

func sectionNames(f *elf.File) []string {
	var out []string
	for _, s := range f.Sections {
		out = append(out, s.Name)
	}
	return out
}

// relocsTo counts the relocations applying to sec whose symbol is name.
func relocsTo(t *testing.T, f *elf.File, sec *elf.Section, syms []elf.Symbol, name string) int {
	t.Helper()
	n := 0
	for _, rs := range f.Sections {
		if rs.Type != elf.SHT_RELA || f.Sections[rs.Info] != sec {
			continue
		}
		b, err := rs.Data()
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off+24 <= len(b); off += 24 {
			info := f.ByteOrder.Uint64(b[off+8:])
			if idx := int(info >> 32); idx > 0 && idx <= len(syms) && syms[idx-1].Name == name {
				n++
			}
		}
	}
	return n
}

// TestFunctionLocalReadOnlyIsCopied: a new record points to work()'s
// __func__, which no old code refers to directly. The engine could only
// look "__func__.N" up by name, among hundreds of namesakes: the update
// carries a copy of the string instead, and asks the engine for nothing
// about it.
func TestFunctionLocalReadOnlyIsCopied(t *testing.T) {
	for _, c := range []struct{ arch, cc string }{{"x86_64", "gcc"}, {"arm64", arm64CC}} {
		t.Run(c.arch, func(t *testing.T) {
			res := diffPairArch(t, c.arch, "funclocal")
			m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "funclocal.o", Result: res}},
				Exported: func(string) bool { return false }})
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if tables := namedOldFuncs(string(m.Files["tables.c"])); strings.Contains(tables, `.symbol = "__func__`) {
				t.Errorf("the engine is asked to find __func__ by name:\n%s", tables)
			}
			// The record s, which old code does use, still binds through
			// run-pre matching.
			if tables := namedOldFuncs(string(m.Files["tables.c"])); !strings.Contains(tables, `.symbol = "s.`) || !strings.Contains(tables, `.old_func = "work"`) {
				t.Errorf("s is not bound through work's old code:\n%s", tables)
			}
			f := assembleWith(t, c.cc, m.Files["new.S"])
			found := false
			for _, s := range f.Sections {
				if b, _ := s.Data(); strings.HasPrefix(s.Name, ".ksplice.rodata.") && bytes.Equal(b, []byte("work\x00")) {
					found = true
				}
			}
			if !found {
				t.Errorf("new.S carries no copy of work's __func__ (sections %v)", sectionNames(f))
			}
		})
	}
}

// TestStaticsBindPerObject: two objects of one update each have a static
// "lock". The new code of lockother reads its own lock, which no old code
// of lockother refers to; take() of lockown refers to lockown's. The engine
// must never be told to take lockother's lock from take()'s old code.
func TestStaticsBindPerObject(t *testing.T) {
	for _, arch := range []string{"x86_64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			m, err := Generate(Input{ID: "t", Target: "vmlinux",
				Objects: []Object{
					{Rel: "lockown.o", Result: diffPairArch(t, arch, "lockown")},
					{Rel: "lockother.o", Result: diffPairArch(t, arch, "lockother")},
				},
				Exported: func(string) bool { return false }})
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			// take's own relocations bind through take; peek's must not:
			// they bind through a helper of lockother's own.
			takeLabel := ""
			for _, l := range strings.Split(string(m.Files["new.S"]), "\n") {
				if strings.HasPrefix(l, "/* lockown.o .text.take */") {
					takeLabel = "next"
				} else if takeLabel == "next" && strings.HasPrefix(l, "ksplice_n") {
					takeLabel = strings.TrimSuffix(l, ":")
				}
			}
			var viaTake, unbound int
			for _, l := range strings.Split(namedOldFuncs(string(m.Files["tables.c"])), "\n") {
				if !strings.Contains(l, ".place =") || !strings.Contains(l, `.symbol = "lock"`) {
					continue
				}
				inTake := strings.Contains(l, "("+takeLabel+" ")
				switch {
				case strings.Contains(l, `.old_func = "take"`) && inTake:
					viaTake++
				case (strings.Contains(l, `.old_func = "helper:get"`) || strings.Contains(l, `.old_func = "helper:set"`)) && !inTake:
					// lockother's own lock, through an unchanged
					// function of lockother matched as a helper.
					unbound++
				default:
					t.Errorf("lock bound through the wrong old code (take is %s): %s", takeLabel, l)
				}
			}
			if viaTake == 0 || unbound == 0 {
				t.Errorf("%d of take's and %d of peek's relocations to lock, want some of each", viaTake, unbound)
			}
		})
	}
}

// TestDyndbgCarried: pr_debug() in carried code. Its descriptor goes into
// the update module's own __dyndbg section (whole descriptors, which the
// loader registers with dynamic debug), and both the call's argument and
// the jump label's key point at that copy, never at the running kernel.
func TestDyndbgCarried(t *testing.T) {
	for _, c := range []struct{ arch, cc string }{{"x86_64", "gcc"}, {"arm64", arm64CC}} {
		t.Run(c.arch, func(t *testing.T) {
			res := diffPairArch(t, c.arch, "dyndbg")
			var size uint64
			carried := 0
			for _, fd := range res.CarriedFunctions() {
				for _, e := range fd.Post.Entries {
					if e.Special.Name == "__dyndbg" {
						size, carried = e.Special.EntrySize, carried+1
					}
				}
			}
			if carried == 0 {
				t.Fatal("the pair carries no function with a pr_debug")
			}
			m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "dyndbg.o", Result: res}},
				Exported: func(s string) bool { return s == "__dynamic_pr_debug" }})
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			f := assembleWith(t, c.cc, m.Files["new.S"])
			dd := f.Section("__dyndbg")
			if dd == nil || dd.Size != size*uint64(carried) {
				t.Fatalf("__dyndbg of new.o: %v, want %d descriptors of %d bytes", dd, carried, size)
			}
			syms, _ := f.Symbols()
			secOf := func(r int) string {
				if r <= 0 || r > len(syms) || int(syms[r-1].Section) >= len(f.Sections) {
					return ""
				}
				return f.Sections[syms[r-1].Section].Name
			}
			// Every relocation that reaches __dyndbg comes from the code or
			// the jump table, and none names a running-kernel descriptor.
			var fromCode, fromJump int
			for _, rs := range f.Sections {
				if rs.Type != elf.SHT_RELA {
					continue
				}
				b, _ := rs.Data()
				for off := 0; off+24 <= len(b); off += 24 {
					info := f.ByteOrder.Uint64(b[off+8:])
					if secOf(int(info>>32)) != "__dyndbg" {
						continue
					}
					switch applied := f.Sections[rs.Info].Name; {
					case strings.HasPrefix(applied, ".ksplice.text."):
						fromCode++
					case applied == "__jump_table":
						fromJump++
					}
				}
			}
			if fromCode < carried || fromJump < carried {
				t.Errorf("references to the update's descriptors: %d from code, %d from __jump_table; want at least %d each", fromCode, fromJump, carried)
			}
			for _, l := range strings.Split(namedOldFuncs(string(m.Files["tables.c"])), "\n") {
				if strings.Contains(l, ".place =") && strings.Contains(l, "ddebug") {
					t.Errorf("the engine is asked to resolve a descriptor: %s", l)
				}
			}
		})
	}
}

// TestHelperBindsUnboundStatic: caller()'s new code calls notsupp(), a
// static function of its object that no replaced function's old code
// calls. It binds through notsupp() itself, matched by run-pre as a
// helper (no new code, no trampoline), never through a kallsyms name.
func TestHelperBindsUnboundStatic(t *testing.T) {
	for _, c := range []struct{ arch, cc string }{{"x86_64", "gcc"}, {"arm64", arm64CC}} {
		t.Run(c.arch, func(t *testing.T) {
			m, err := Generate(Input{ID: "t", Target: "vmlinux",
				Objects:  []Object{{Rel: "helpercall.o", Result: diffPairArch(t, c.arch, "helpercall")}},
				Exported: func(string) bool { return false }})
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			raw := string(m.Files["tables.c"])
			tables := namedOldFuncs(raw)
			if !strings.Contains(tables, `.symbol = "notsupp", .old_func = "helper:notsupp"`) {
				t.Errorf("the call to notsupp is not bound through the helper notsupp:\n%s", tables)
			}
			if !strings.Contains(raw, ".nr_helpers = ARRAY_SIZE(ksplice_helpers)") {
				t.Error("the update does not list its helpers")
			}
			for _, f := range m.Funcs {
				if f.Name == "notsupp" {
					t.Errorf("the helper notsupp is listed as a function the update carries: %+v", f)
				}
			}
			helpers := raw[strings.Index(raw, "ksplice_helpers[] = {"):]
			helpers = helpers[:strings.Index(helpers, "};")]
			if strings.Contains(helpers, ".new_func") {
				t.Errorf("a helper has new code:\n%s", helpers)
			}
			assembleWith(t, c.cc, m.Files["new.S"])
		})
	}
}

// TestCarriedCodeKeepsItsName: the new code of a carried function is also
// a local function symbol of the kernel's name with a ".ksplice" suffix
// (never the bare name, which kprobes would then find twice), at the same
// address and size as its label, so that kallsyms (an oops, a stack trace)
// names it.
func TestCarriedCodeKeepsItsName(t *testing.T) {
	for _, c := range []struct{ arch, cc string }{{"x86_64", "gcc"}, {"arm64", arm64CC}} {
		t.Run(c.arch, func(t *testing.T) {
			m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "jumptable.o", Result: diffPairArch(t, c.arch, "jumptable")}},
				Exported: func(string) bool { return false }})
			if err != nil {
				t.Fatal(err)
			}
			f := assembleWith(t, c.cc, m.Files["new.S"])
			syms, _ := f.Symbols()
			var label, named *elf.Symbol
			for i, s := range syms {
				switch {
				case s.Name == "dispatch.ksplice":
					named = &syms[i]
				case strings.HasPrefix(s.Name, "ksplice_n") && elf.ST_TYPE(s.Info) == elf.STT_FUNC:
					label = &syms[i]
				}
			}
			if label == nil || named == nil {
				t.Fatalf("symbols: label %v, dispatch.ksplice %v", label, named)
			}
			for _, s := range syms {
				if s.Name == "dispatch" {
					t.Errorf("new.o defines dispatch itself: kprobes on it by name would be refused")
				}
			}
			if elf.ST_TYPE(named.Info) != elf.STT_FUNC || elf.ST_BIND(named.Info) != elf.STB_LOCAL ||
				named.Section != label.Section || named.Value != label.Value || named.Size != label.Size {
				t.Errorf("dispatch %+v does not alias %s %+v as a local function", *named, label.Name, *label)
			}
		})
	}
}

// TestThroughCallers: body() has no ftrace site (notrace), so it is carried
// as new code and not replaced; api(), its only caller, is replaced and
// calls the new body().
func TestThroughCallers(t *testing.T) {
	for _, c := range []struct{ arch, cc string }{{"x86_64", "gcc"}, {"arm64", arm64CC}} {
		t.Run(c.arch, func(t *testing.T) {
			m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "tc.o", Result: diffPairArch(t, c.arch, "throughcallers")}},
				Exported: func(string) bool { return false }})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, f := range m.Funcs {
				got[f.Name] = f.Replaced
			}
			if replaced, ok := got["body"]; !ok || replaced {
				t.Errorf("body: carried %v, replaced %v; want carried as new code only", ok, replaced)
			}
			if !got["api"] {
				t.Errorf("api is not replaced: %v", got)
			}
			tables := namedOldFuncs(string(m.Files["tables.c"]))
			if strings.Contains(tables, `.name = "body\000`) {
				t.Errorf("body is matched or replaced by the engine:\n%s", tables)
			}
			assembleWith(t, c.cc, m.Files["new.S"])
		})
	}
}

// TestDyndbgFuncCopied: online()'s code and its pr_debug descriptor both
// point at __func__.0. The loader relocates the carried descriptor when it
// loads the update, before run-pre could bind __func__.0 through the old
// code (and kallsyms has hundreds of __func__.0): the update carries a copy,
// whatever the old code refers to.
func TestDyndbgFuncCopied(t *testing.T) {
	for _, c := range []struct{ arch, cc string }{{"x86_64", "gcc"}, {"arm64", arm64CC}} {
		t.Run(c.arch, func(t *testing.T) {
			res := diffPairArch(t, c.arch, "dyndbgfunc")
			m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "dyndbgfunc.o", Result: res}},
				Exported: func(s string) bool { return s == "__dynamic_pr_debug" || s == "scale_in" || s == "report" }})
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			f := assembleWith(t, c.cc, m.Files["new.S"])
			copied := false
			for _, s := range f.Sections {
				if s.Flags&elf.SHF_EXECINSTR == 0 && s.Size == uint64(len("online")+1) {
					if b, _ := s.Data(); string(b) == "online\x00" {
						copied = true
					}
				}
			}
			if !copied {
				t.Errorf("new.S carries no copy of __func__ (\"online\"):\n%s", m.Files["new.S"])
			}
			for _, l := range strings.Split(string(m.Files["tables.c"]), "\n") {
				if strings.Contains(l, ".place =") && strings.Contains(l, `"__func__`) {
					t.Errorf("new code's __func__ is left to the engine: %s", l)
				}
			}
		})
	}
}

// TestImportNamespaces: the module imports the namespace of every export
// it uses (modpost refuses to link it otherwise: fw_fallback_config of
// FIRMWARE_LOADER_PRIVATE in the 6.1.190 corpus), and no other; a
// namespace that is not an identifier is refused.
func TestImportNamespaces(t *testing.T) {
	res := diffPairArch(t, "x86_64", "dyndbg")
	ns := map[string]string{"__dynamic_pr_debug": "DYNDBG_TEST", "unused_export": "UNUSED_TEST"}
	in := Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "dyndbg.o", Result: res}},
		Exported:  func(s string) bool { return s == "__dynamic_pr_debug" || s == "unused_export" },
		Namespace: func(s string) string { return ns[s] }}
	m, err := Generate(in)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	tables := string(m.Files["tables.c"])
	if n := strings.Count(tables, "MODULE_IMPORT_NS(DYNDBG_TEST);\n"); n != 1 {
		t.Errorf("tables.c imports DYNDBG_TEST %d times, want 1:\n%s", n, tables)
	}
	if strings.Contains(tables, "UNUSED_TEST") {
		t.Errorf("tables.c imports the namespace of an export it does not use")
	}
	// An export only for named modules is, for the update module, no
	// export: the same module as with the symbol unexported.
	ns["__dynamic_pr_debug"] = "module:kvm"
	mk, err := Generate(in)
	if err != nil {
		t.Fatalf("Generate with namespace module:kvm: %v", err)
	}
	unexp := in
	unexp.Exported = func(s string) bool { return s == "unused_export" }
	mu, err := Generate(unexp)
	if err != nil {
		t.Fatalf("Generate with the symbol unexported: %v", err)
	}
	if a, b := string(mk.Files["tables.c"]), string(mu.Files["tables.c"]); a != b || strings.Contains(a, "module:kvm") {
		t.Errorf("tables.c for a module:kvm export differs from the unexported one:\n%s\n---\n%s", a, b)
	}
	if !bytes.Equal(mk.Files["new.S"], mu.Files["new.S"]) {
		t.Errorf("new.S for a module:kvm export differs from the unexported one")
	}
	ns["__dynamic_pr_debug"] = "NOT-AN-IDENTIFIER"
	if _, err := Generate(in); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Generate with namespace %q: %v, want ErrUnsupported", ns["__dynamic_pr_debug"], err)
	}
}

// TestPayloadSectionNames: the carried replacement instructions of
// alternatives keep their section's own name, which objtool knows (run on
// the linked update module on x86 IBT kernels, it takes any other name for
// functions' text and crashed on one).
func TestPayloadSectionNames(t *testing.T) {
	res := diffPairArch(t, "x86_64", "altpiece")
	m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "altpiece.o", Result: res}},
		Exported: func(string) bool { return true }})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	asm := string(m.Files["new.S"])
	if !strings.Contains(asm, "\t.section .altinstr_replacement,\"ax\",%progbits\n") {
		t.Errorf("new.S carries no .altinstr_replacement section:\n%s", asm)
	}
	if strings.Contains(asm, ".ksplice.altinstr") {
		t.Errorf("new.S renames a payload section:\n%s", asm)
	}
}

// TestNewGlobalOfAnotherObject: a fix in two files made as one update,
// where one file adds a global function (crossdef: cd_helper) and the
// other's new code calls it (crossuse): the running kernel has no
// cd_helper, so the call must reach the update's own copy, never be left
// to the engine's kallsyms lookup (which finds nothing and refuses the
// update). crossuse comes first, before crossdef has labelled its
// sections.
func TestNewGlobalOfAnotherObject(t *testing.T) {
	for _, c := range []struct{ arch, cc string }{{"x86_64", "gcc"}, {"arm64", arm64CC}} {
		t.Run(c.arch, func(t *testing.T) {
			m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{
				{Rel: "crossuse.o", Result: diffPairArch(t, c.arch, "crossuse")},
				{Rel: "crossdef.o", Result: diffPairArch(t, c.arch, "crossdef")},
			}, Exported: func(string) bool { return false }})
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if tables := string(m.Files["tables.c"]); strings.Contains(tables, `"cd_helper"`) {
				t.Errorf("the call of cd_helper is left to the engine:\n%s", tables)
			}
			f := assembleWith(t, c.cc, m.Files["new.S"])
			syms, _ := f.Symbols()
			// Which carried section is cu_main's and which cd_helper's:
			// the one that calls another is the caller.
			var text []*elf.Section
			for _, s := range f.Sections {
				if strings.HasPrefix(s.Name, ".ksplice.text.ksplice_n") {
					text = append(text, s)
				}
			}
			calls := 0
			for _, s := range text {
				for _, o := range text {
					if o != s {
						calls += relocsTo(t, f, s, syms, o.Name[len(".ksplice.text."):])
					}
				}
			}
			if calls == 0 {
				t.Errorf("no carried code reaches another carried function: cu_main does not call cd_helper's copy\n%s", m.Files["new.S"])
			}
		})
	}
}
