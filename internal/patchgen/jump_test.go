package patchgen

import (
	"regexp"
	"strings"
	"testing"
)

// TestJumpWindowTables: a replaced function without an ftrace site gets
// the window elfdiff found as a KSPLICE_SITE_ENTRY_JUMP site of its old
// code, and its Func says the engine diverts it by a direct jump.
func TestJumpWindowTables(t *testing.T) {
	for arch, want := range map[string]string{
		"x86_64": `{ .offset = 0x0, .len = 5, .kind = 3, .target = 0 }`,
		// After paciasp, landing after the replacement's own.
		"arm64": `{ .offset = 0x4, .len = 12, .kind = 3, .target = 4 }`,
	} {
		t.Run(arch, func(t *testing.T) {
			res := diffPairArch(t, arch, "jumpentry")
			m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "jumpentry.o", Result: res}},
				Exported: undefinedExported})
			if err != nil {
				t.Fatal(err)
			}
			tables := string(m.Files["tables.c"])
			if n := len(regexp.MustCompile(`\.kind = 3`).FindAllString(tables, -1)); n != 1 {
				t.Errorf("%d jump windows in tables.c, want 1:\n%s", n, tables)
			}
			if !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(tables) {
				t.Errorf("tables.c lacks %s:\n%s", want, tables)
			}
			if len(m.Funcs) != 1 || m.Funcs[0].Name != "plain" || m.Funcs[0].Method != MethodJump {
				t.Errorf("Funcs = %+v, want plain, replaced by a jump", m.Funcs)
			}
		})
	}
}

// TestJumpWindowLongTables: an arm64 window with room for the long jump
// (12 bytes) reaches the tables whole, with the relocations run-pre
// matches inside it (reads_first's adrp at +0 and its load at +0xc) kept
// as relocations of the old code.
func TestJumpWindowLongTables(t *testing.T) {
	res := diffPairArch(t, "arm64", "farjump")
	m, err := Generate(Input{ID: "t", Target: "vmlinux", Objects: []Object{{Rel: "farjump.o", Result: res}},
		Exported: undefinedExported})
	if err != nil {
		t.Fatal(err)
	}
	tables := string(m.Files["tables.c"])
	for _, want := range []string{
		`{ .offset = 0x4, .len = 12, .kind = 3, .target = 4 }`, // calls_first
		`{ .offset = 0x0, .len = 12, .kind = 3, .target = 0 }`, // reads_first
		`{ .offset = 0x0, .len = 4, .kind = 3, .target = 0 }`,  // back_into, short_one
	} {
		if !strings.Contains(tables, want) {
			t.Errorf("tables.c lacks %s:\n%s", want, tables)
		}
	}
	for _, want := range []string{
		`{ .offset = 0x0, .type = 275, .symbol = "counter", .addend = 0 }`,
		`{ .offset = 0xc, .type = 285, .symbol = "counter", .addend = 0 }`,
	} {
		if !strings.Contains(tables, want) {
			t.Errorf("tables.c lacks reads_first's relocation %s:\n%s", want, tables)
		}
	}
}
