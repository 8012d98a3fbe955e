package patchgen

import (
	"strings"
	"testing"
)

// TestSourceHooks generates the module of the authored pair: the hooks its
// source declares fill the update's fields through wrappers that call the
// carried functions, kpatch's callbacks with a NULL klp_object, and the
// ignored function is not carried.
func TestSourceHooks(t *testing.T) {
	for _, withFile := range []bool{false, true} {
		in := Input{ID: "authored", Target: "vmlinux", Exported: undefinedExported,
			Objects: []Object{{Rel: "authored.o", Result: diffPair(t, "authored")}}}
		if withFile {
			in.Hooks = []byte("int ksplice_hook_pre_apply(void) { return 0; }\n")
		}
		m, err := Generate(in)
		if err != nil {
			t.Fatal(err)
		}
		tables := string(m.Files["tables.c"])
		if testing.Verbose() && withFile {
			t.Log(tables)
		}
		for _, want := range []string{
			".pre_apply = ksplice_hooks_pre_apply,",
			".post_apply = ksplice_hooks_post_apply,",
			"/* pre_apply: check */",
			"/* pre_patch: before */",
			"ret = ((int (*)(void *))(void *)ksplice_n",
			")(NULL);\n\tif (ret)\n\t\treturn ret;",
			"/* load: on_load */",
		} {
			if !strings.Contains(tables, want) {
				t.Errorf("hooks file %v: tables.c lacks %q:\n%s", withFile, want, tables)
			}
		}
		if strings.Contains(tables, ".pre_reverse") != withFile {
			t.Errorf("hooks file %v: .pre_reverse set: %v", withFile, !withFile)
		}
		if withFile && !strings.Contains(tables, "if (ksplice_hook_pre_apply) {\n\t\tret = ksplice_hook_pre_apply();") {
			t.Errorf("the hook file's pre_apply is not called first:\n%s", tables)
		}
		for _, f := range m.Funcs {
			if f.Name == "noisy" || f.Name == "skipped" {
				t.Errorf("ignored %s carried", f.Name)
			}
		}
	}
}
