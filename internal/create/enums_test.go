package create

import (
	"errors"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

// TestEnumChanges compiles a pre and post object with gcc -g and compares
// the values of their enumeration constants: a constant that is renumbered
// is refused, naming it and both values; constants added after the others,
// bounds that grow and aliases that follow them are not.
func TestEnumChanges(t *testing.T) {
	const use = "\nint f(int s) { return s == B || s == DEF || s == __C_NR || s == C_MAX; }\n"
	pre := compileDebug(t, "enum st { A, B, C, __C_NR, C_MAX = __C_NR - 1, DEF = A };"+use)
	for _, c := range []struct {
		name, post string
		want       string // the refused constant and what its message says; "" for none
		pre        string // if not the common one
	}{
		{"same", "enum st { A, B, C, __C_NR, C_MAX = __C_NR - 1, DEF = A };" + use, "", ""},
		// A constant added after the others: the bound grows, the
		// alias of the last one follows it.
		{"added last", "enum st { A, B, C, D, __C_NR, C_MAX = __C_NR - 1, DEF = A };" + use, "", ""},
		// An alias that names another constant: code reads its value.
		{"alias moved", "enum st { A, B, C, __C_NR, C_MAX = __C_NR - 1, DEF = B };" + use, "", ""},
		// Inserted before B: B's stored values would mean A2.
		{"inserted", "enum st { A, A2, B, C, __C_NR, C_MAX = __C_NR - 1, DEF = A };" + use, "B: from 1 to 2", ""},
		{"renumbered", "enum st { A, B = 5, C, __C_NR, C_MAX = __C_NR - 1, DEF = A };" + use, "B: from 1 to 5", ""},
		// The same inserted into an anonymous enum.
		{"anonymous", "enum { A, A2, B, C, __C_NR, C_MAX = __C_NR - 1, DEF = A };" + use, "B: (an anonymous enum)", "enum { A, B, C, __C_NR, C_MAX = __C_NR - 1, DEF = A };" + use},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := pre
			if c.pre != "" {
				before = compileDebug(t, c.pre)
			}
			refs, ok, err := typeChanges(before, compileDebug(t, c.post))
			if err != nil || !ok {
				t.Fatalf("typeChanges: %v, %v", ok, err)
			}
			if c.want == "" {
				if len(refs) > 0 {
					t.Fatalf("refused %v, want no refusal", refs)
				}
				return
			}
			name, says, _ := strings.Cut(c.want, ": ")
			var hit *elfdiff.Refusal
			for i := range refs {
				if refs[i].Symbol == name {
					hit = &refs[i]
				}
			}
			if hit == nil || !strings.Contains(hit.Reason, says) {
				t.Fatalf("refusals %v, want one of %s saying %q", refs, name, says)
			}
			if !errors.Is(hit, elfdiff.ErrEnumValue) {
				t.Errorf("refusal %v does not unwrap to ErrEnumValue", hit)
			}
			for _, r := range refs {
				if r.Symbol == "C_MAX" || r.Symbol == "__C_NR" || r.Symbol == "DEF" || r.Symbol == "A" {
					t.Errorf("refused %s: a bound, an alias or an unchanged value", r.Symbol)
				}
			}
		})
	}
}
