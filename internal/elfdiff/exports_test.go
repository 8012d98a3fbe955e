package elfdiff

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestExportTable612: the .export_symbol section of 6.5 and later kernels
// is compared export by export. The patched half adds an export before
// the others (so every later entry moves), moves one into a namespace and
// drops another: each is refused as export-changed, naming it, and the
// export that only moved is not; nothing is refused as an unknown section.
func TestExportTable612(t *testing.T) {
	for _, arch := range arches612 {
		t.Run(arch, func(t *testing.T) {
			for _, half := range []string{"orig", "patched"} {
				f, err := Open(filepath.Join(testdata, arch, "exports."+half+".o"))
				if err != nil {
					t.Fatal(err)
				}
				var secs []*Section
				for _, s := range f.Sections[1:] {
					if s.Name == exportTableSection {
						secs = append(secs, s)
					}
				}
				if tab, ok := exportTable(f, secs); !ok || len(tab) != 3 {
					t.Fatalf("%s: export table %v (read %v), want 3 entries", half, tab, ok)
				}
			}
			res := diffPair(t, arch, "exports")
			want := map[string]string{
				"zeroth": "adds EXPORT_SYMBOL_GPL(zeroth)",
				"second": `changes EXPORT_SYMBOL_GPL(second) to EXPORT_SYMBOL_GPL_NS (namespace "" -> "KSPLICE_TEST")`,
				"third":  "removes EXPORT_SYMBOL_GPL(third)",
			}
			var got []string
			for _, r := range res.Refusals {
				switch {
				case r.Rule == RuleUnknownSection:
					t.Errorf("refused as an unknown section: %+v", r)
				case r.Rule == RuleExportChanged:
					got = append(got, r.Symbol)
					if w, ok := want[r.Symbol]; !ok || !strings.Contains(r.Reason, "the patch "+w+":") {
						t.Errorf("refusal of %s: %q, want %q", r.Symbol, r.Reason, w)
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, []string{"second", "third", "zeroth"}) {
				t.Errorf("export-changed refusals for %v, want second, third, zeroth (first only moved): %+v", got, res.Refusals)
			}
		})
	}
}
