package patchgen

import (
	"debug/elf"
	"encoding/binary"
	"strings"
	"testing"
)

// TestJumpKeysBoundByEngine: the changed traced() has jump labels on a
// tracepoint's key and on a static key of its file, neither exported
// (testdata/elfdiff/tracekey.*.c). The module loader registers a module's
// jump labels before the engine could resolve them, so create used to
// refuse them. Now their entries are keyed on the update's placeholder key
// and listed for the engine: the tracepoint through the old code, which
// reads it (else by name: kallsyms, or the kernel's list of tracepoints),
// the static key through the unchanged
// function whose code addresses it (a helper: run-pre binds it among
// namesakes). The old code calls the tracepoint's static call trampoline,
// from which run-pre deduces nothing: the new code's call is resolved from
// kallsyms, not through the old code.
func TestJumpKeysBoundByEngine(t *testing.T) {
	for _, c := range []struct{ arch, cc string }{{"x86_64", "gcc"}, {"arm64", arm64CC}} {
		t.Run(c.arch, func(t *testing.T) {
			res := diffPairArch(t, c.arch, "tracekey")
			m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "tracekey.o", Result: res}},
				Exported: func(string) bool { return false }})
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			tables := string(m.Files["tables.c"])
			for _, want := range []string{
				"struct static_key ksplice_jump_placeholder;",
				// traced()'s old code reads __tracepoint_demo.funcs:
				// run-pre deduces the tracepoint's address there.
				`.key = NULL, .symbol = "__tracepoint_demo", .old_func = &ksplice_funcs[0], .addend = 8 }`,
				`.key = NULL, .symbol = "demo_enabled", .old_func = &ksplice_helpers[0], .addend = 0 }`,
				`.name = "demo_switch\000`, // then its object (KSPLICE_UPDATE_OBJECTS)
				".nr_keys = ARRAY_SIZE(ksplice_keys),",
			} {
				if !strings.Contains(tables, want) {
					t.Errorf("tables.c lacks %q:\n%s", want, tables)
				}
			}
			// A global key: through the helper the update already has
			// for demo_enabled, whose code addresses it too.
			global := `.key = NULL, .symbol = "demo_global", .old_func = &ksplice_helpers[0], .addend = 0 }`
			if !strings.Contains(tables, global) {
				t.Errorf("tables.c lacks %q:\n%s", global, tables)
			}
			for _, l := range strings.Split(tables, "\n") {
				if strings.Contains(l, `"__SCT__tp_func_demo"`) && strings.Contains(l, ".place") && !strings.Contains(l, ".old_func = NULL") {
					t.Errorf("the static call is bound through old code, which deduces nothing from it: %s", l)
				}
			}
			if !strings.Contains(tables, `"__SCT__tp_func_demo"`) {
				t.Errorf("no new relocation resolves the static call trampoline:\n%s", tables)
			}

			// Every entry of the module's __jump_table is keyed on the
			// placeholder, with the entry's branch flag (0 here).
			f := assembleWith(t, c.cc, m.Files["new.S"])
			defer f.Close()
			jt := f.Section("__jump_table")
			if jt == nil {
				t.Fatal("new.o has no __jump_table")
			}
			syms, _ := f.Symbols()
			keys := 0
			for _, rs := range f.Sections {
				if rs.Type != elf.SHT_RELA || f.Sections[rs.Info] != jt {
					continue
				}
				b, _ := rs.Data()
				for i := 0; i+24 <= len(b); i += 24 {
					off := binary.LittleEndian.Uint64(b[i:])
					info := binary.LittleEndian.Uint64(b[i+8:])
					addend := int64(binary.LittleEndian.Uint64(b[i+16:]))
					if off%16 != jumpKeyOffset {
						continue
					}
					keys++
					sym := syms[info>>32-1].Name
					if sym != jumpPlaceholder || addend != 0 {
						t.Errorf("jump entry at %#x keyed on %s%+d, want %s+0", off-jumpKeyOffset, sym, addend, jumpPlaceholder)
					}
				}
			}
			// gcc may duplicate a branch (arm64 does here): one entry each.
			if keys < 3 {
				t.Errorf("%d jump entries, want at least 3 (the tracepoint's, demo_enabled's and demo_global's)", keys)
			}
		})
	}
}

// TestJumpKeyExported: an exported key is still bound late, with every
// other key of the module, but the module loader resolves its address.
func TestJumpKeyExported(t *testing.T) {
	res := diffPairArch(t, "x86_64", "tracekey")
	m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "tracekey.o", Result: res}},
		Exported: func(s string) bool { return s == "__tracepoint_demo" }})
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	tables := string(m.Files["tables.c"])
	for _, want := range []string{
		`extern char ksplice_jkey_0[] __asm__("__tracepoint_demo");`,
		`.key = ksplice_jkey_0, .symbol = "__tracepoint_demo", .old_func = NULL, .addend = 8 }`,
	} {
		if !strings.Contains(tables, want) {
			t.Errorf("tables.c lacks %q:\n%s", want, tables)
		}
	}
}
