package patchgen

import (
	"bytes"
	"debug/elf"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
	"github.com/ksplice-go/ksplice/internal/testutil"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

const testdata = "../../testdata/elfdiff"

// TestMain builds the test objects from their C sources (a no-op when they
// are up to date), as make unit does.
func TestMain(m *testing.M) {
	testutil.MainMake(testdata)
	os.Exit(m.Run())
}

func diffPair(t *testing.T, name string) *elfdiff.Result {
	t.Helper()
	return diffPairArch(t, "x86_64", name)
}

// diffPairArch diffs the pair name built for arch ("x86_64", "arm64").
func diffPairArch(t *testing.T, arch, name string) *elfdiff.Result {
	t.Helper()
	dir := filepath.Join(testdata, arch)
	pre, err := elfdiff.Open(filepath.Join(dir, name+".orig.o"))
	if err != nil {
		t.Fatal(err)
	}
	post, err := elfdiff.Open(filepath.Join(dir, name+".patched.o"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := elfdiff.Diff(pre, post)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// undefinedExported treats every undefined symbol as exported, static
// definitions as not.
func undefinedExported(string) bool { return true }

// assemble assembles new.S the way Kbuild would (through cpp) and opens
// the object.
func assemble(t *testing.T, src []byte) *elf.File {
	t.Helper()
	return assembleWith(t, "gcc", src)
}

// assembleWith is assemble with the compiler driver cc, which the project
// installs (make deps): a missing one fails the test.
func assembleWith(t *testing.T, cc string, src []byte) *elf.File {
	t.Helper()
	if _, err := exec.LookPath(cc); err != nil {
		t.Fatalf("%v (make deps installs it)", err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "new.S")
	if err := os.WriteFile(in, src, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "new.o")
	if b, err := exec.Command(cc, "-c", in, "-o", out).CombinedOutput(); err != nil {
		t.Fatalf("assemble new.S: %v\n%s\n%s", err, b, src)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// TestNewCodeRoundTrip checks that new.S, once assembled, holds exactly the
// carried functions' bytes, with a relocation for every relocation of the
// compiler's that the module loader resolves, against the same symbol.
func TestNewCodeRoundTrip(t *testing.T) {
	for _, pair := range []string{"newfunc", "body", "strings", "statics"} {
		t.Run(pair, func(t *testing.T) {
			res := diffPair(t, pair)
			m, err := Generate(Input{ID: "t", Description: "test", Target: "vmlinux",
				Objects: []Object{{Rel: pair + ".o", Result: res}}, Exported: undefinedExported, Hooks: onlyNewHooks(pair)})
			if err != nil {
				t.Fatal(err)
			}
			f := assemble(t, m.Files["new.S"])
			for _, fd := range res.CarriedFunctions() {
				fn := fd.Post
				// Find the label of the function's section in new.o.
				var sec *elf.Section
				for _, s := range f.Sections {
					if strings.HasPrefix(s.Name, ".ksplice.text.") && s.Size == fn.Section.Size {
						if b, _ := s.Data(); bytes.Equal(b, fn.Section.Data) {
							sec = s
						}
					}
				}
				if sec == nil {
					t.Fatalf("%s: no section of new.o holds its bytes", fd.Name)
				}
				var loaderRelocs int
				for _, r := range fn.Relocs {
					if r.Info.Kind != 0 && (r.Sym.Section == nil || r.Sym.Section.Kind == elfdiff.KindStrings || r.Sym.Function() != nil && r.Sym.Function().Section == fn.Section) {
						loaderRelocs++
					}
				}
				rela := f.Section(".rela" + sec.Name)
				got := 0
				if rela != nil {
					got = int(rela.Size / 24)
				}
				if got < loaderRelocs {
					t.Errorf("%s: %d relocations in new.o, want at least %d", fd.Name, got, loaderRelocs)
				}
			}
			if !strings.Contains(namedOldFuncs(string(m.Files["tables.c"])), "ksplice_register_update(&ksplice_update)") {
				t.Error("tables.c does not register the update")
			}
		})
	}
}

// TestEngineRelocsNameRunningSymbols checks the relocations left to the
// engine: a static function of the running kernel called from new code is
// named as the running kernel names it and tied to a replaced function whose
// old code calls it, and the call goes to the placeholder meanwhile.
func TestEngineRelocsNameRunningSymbols(t *testing.T) {
	res := diffPair(t, "calls")
	m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "calls.o", Result: res}},
		Exported: func(s string) bool { return s == "__fentry__" || s == "__x86_return_thunk" }})
	if err != nil {
		t.Fatal(err)
	}
	tables := namedOldFuncs(string(m.Files["tables.c"]))
	if n := strings.Count(tables, `.symbol = "scale", .old_func = "use"`); n != 2 {
		t.Errorf("tables.c resolves %d calls to scale() through use's old code, want 2:\n%s", n, tables)
	}
	if !strings.Contains(string(m.Files["new.S"]), "ksplice_placeholder") {
		t.Error("new.S has no placeholder for the engine-resolved call")
	}
	assemble(t, m.Files["new.S"])
	var replaced, added []string
	for _, f := range m.Funcs {
		if f.Replaced {
			replaced = append(replaced, f.Name)
		} else {
			added = append(added, f.Name)
		}
	}
	if strings.Join(replaced, ",") != "use" || len(added) != 0 {
		t.Errorf("replaced %v, added %v; want [use], []", replaced, added)
	}
}

func TestModuleName(t *testing.T) {
	if got := ModuleName("fix_1", "nf-conntrack"); got != "ksplice_fix_1_nf_conntrack" {
		t.Errorf("ModuleName = %q", got)
	}
}

func TestCString(t *testing.T) {
	if got := cString("a \"b\" \\ \n é"); got != `"a \"b\" \\ \012 \303\251"` {
		t.Errorf("cString = %s", got)
	}
}

// TestMergedStringsNamedApart checks that references to string literals in
// the old code name each string on its own: the linker merges literal pools
// across objects, so their offsets within a pool mean nothing in the
// running kernel.
func TestMergedStringsNamedApart(t *testing.T) {
	res := diffPair(t, "strings")
	m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "strings.o", Result: res}}, Exported: undefinedExported})
	if err != nil {
		t.Fatal(err)
	}
	tables := namedOldFuncs(string(m.Files["tables.c"]))
	for _, l := range strings.Split(tables, "\n") {
		if strings.Contains(l, `.symbol = ".rodata`) && strings.Contains(l, ".str") && !strings.Contains(l, `+0x`) {
			t.Errorf("string reference not named by its string: %s", l)
		}
	}
	if !strings.Contains(tables, `.str1.1+0x`) && !strings.Contains(tables, `.str1.8+0x`) {
		t.Errorf("no string reference in the old code of the strings pair:\n%s", tables)
	}
}

// TestHookTables checks the hook entries of tables.c: weak declarations
// and the four fields with --hooks, none without, and an update of hooks
// alone (no function replaced) with no function table.
func TestHookTables(t *testing.T) {
	res := diffPair(t, "body")
	hooks := []byte("int ksplice_hook_pre_apply(void) { return 0; }\n")
	m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "body.o", Result: res}},
		Exported: undefinedExported, Hooks: hooks})
	if err != nil {
		t.Fatal(err)
	}
	tables := namedOldFuncs(string(m.Files["tables.c"]))
	for _, want := range []string{
		"extern int ksplice_hook_pre_apply(void) __weak;\n",
		"extern void ksplice_hook_post_apply(void) __weak;\n",
		"extern int ksplice_hook_pre_reverse(void) __weak;\n",
		"extern void ksplice_hook_post_reverse(void) __weak;\n",
		"\t.pre_apply = ksplice_hook_pre_apply,\n",
		"\t.post_apply = ksplice_hook_post_apply,\n",
		"\t.pre_reverse = ksplice_hook_pre_reverse,\n",
		"\t.post_reverse = ksplice_hook_post_reverse,\n",
		"\t.funcs = ksplice_funcs,\n",
	} {
		if !strings.Contains(tables, want) {
			t.Errorf("tables.c lacks %q:\n%s", want, tables)
		}
	}
	if !bytes.Equal(m.Files["hooks.c"], hooks) {
		t.Errorf("hooks.c = %q, want %q", m.Files["hooks.c"], hooks)
	}
	if kb := string(m.Files["Kbuild"]); !strings.Contains(kb, "-y := tables.o new.o hooks.o\n") {
		t.Errorf("Kbuild does not build hooks.o:\n%s", kb)
	}

	m, err = Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "body.o", Result: res}},
		Exported: undefinedExported})
	if err != nil {
		t.Fatal(err)
	}
	if s := namedOldFuncs(string(m.Files["tables.c"])); strings.Contains(s, "ksplice_hook") {
		t.Errorf("tables.c without hooks names hooks:\n%s", s)
	}
	if _, ok := m.Files["hooks.c"]; ok {
		t.Error("hooks.c without hooks")
	}

	m, err = Generate(Input{ID: "t", Target: "vmlinux", Exported: undefinedExported, Hooks: hooks})
	if err != nil {
		t.Fatalf("hooks alone: %v", err)
	}
	if s := namedOldFuncs(string(m.Files["tables.c"])); strings.Contains(s, "ksplice_funcs") || !strings.Contains(s, ".post_apply = ksplice_hook_post_apply") {
		t.Errorf("tables.c of hooks alone:\n%s", s)
	}
	if _, err := Generate(Input{ID: "t", Target: "vmlinux", Exported: undefinedExported}); err == nil {
		t.Error("no function and no hooks: generated")
	}
}

// TestNewFunctionsOnlyRefused: a patch that renames a global function in
// its file only (its callers elsewhere unchanged) would make an update of
// one new function that nothing calls, replacing nothing; the engine
// rejects such a module as malformed. Generate refuses it instead, naming
// the new function, the removed one, and what to do.
func TestNewFunctionsOnlyRefused(t *testing.T) {
	for _, arch := range []string{"x86_64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			res := diffPairArch(t, arch, "renamed")
			_, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "renamed.o", Result: res}},
				Exported: func(string) bool { return true }})
			if !errors.Is(err, ErrNothingReplaced) || !errors.Is(err, verdict.ErrRefused) {
				t.Fatalf("Generate = %v, want ErrNothingReplaced (a refusal)", err)
			}
			for _, want := range []string{"only adds update_all", "removes eval_update", "change the callers"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

// onlyNewHooks returns a hook file for the pairs whose patch only adds
// code ("statics" adds tack()): without hooks to call it, such an update
// replaces nothing and is refused (TestNewFunctionsOnlyRefused).
func onlyNewHooks(pair string) []byte {
	if pair != "statics" {
		return nil
	}
	return []byte("int tack(void);\n\nint ksplice_hook_pre_apply(void)\n{\n\treturn tack() < 0;\n}\n")
}

// TestRenumberedLabelsBoundByOldName: BTF_ID() names its .BTF_ids slots
// with __COUNTER__ and __LINE__, so the patch renames the slot that
// map_type_id() reads (__BTF_ID__struct__shtab__148 -> __149). The running
// kernel knows it by the old name: the update's relocation must use it
// (else the engine finds "0 symbols called ..." in kallsyms).
func TestRenumberedLabelsBoundByOldName(t *testing.T) {
	for _, arch := range []string{"x86_64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			res := diffPairArch(t, arch, "btfids")
			m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "btfids.o", Result: res}},
				Exported: func(s string) bool { return !strings.HasPrefix(s, "__BTF_ID__") && !strings.HasSuffix(s, "_btf_ids") }})
			if err != nil {
				t.Fatal(err)
			}
			var oldName, newName string
			for _, s := range res.Pre.Symbols[1:] {
				if strings.HasPrefix(s.Name, "__BTF_ID__struct__shtab__") {
					oldName = s.Name
				}
			}
			for _, s := range res.Post.Symbols[1:] {
				if strings.HasPrefix(s.Name, "__BTF_ID__struct__shtab__") {
					newName = s.Name
				}
			}
			if oldName == "" || oldName == newName {
				t.Fatalf("slot names %q -> %q: the pair does not renumber the slot", oldName, newName)
			}
			tables := string(m.Files["tables.c"])
			if strings.Contains(tables, `"`+newName+`"`) {
				t.Errorf("tables.c names the slot by its new name %s, which the running kernel does not know:\n%s", newName, tables)
			}
			if !strings.Contains(tables, `"`+oldName+`"`) && !strings.Contains(tables, `"shtab_btf_ids"`) {
				t.Errorf("tables.c does not bind map_type_id's slot by a running name (%s or shtab_btf_ids):\n%s", oldName, tables)
			}
		})
	}
}
