package elfdiff

import (
	"bytes"
	"strings"
	"testing"
)

func TestDisplay(t *testing.T) {
	for _, tc := range []struct{ name, raw, want string }{
		{"C", "cmdline_proc_show", "cmdline_proc_show"},
		{"C clone", "scale.constprop.0", "scale.constprop.0"},
		{"C with _R", "_RET_IP_", "_RET_IP_"},
		{"C with _ZN", "_ZNfoo", "_ZNfoo"},
		{"legacy", "_ZN8kcmdline7cmdline7Cmdline5width17hd6b67bf0c191e307E", "kcmdline::cmdline::Cmdline::width"},
		{"legacy trait impl", "_ZN70_$LT$kcmdline..cmdline..Cmdline$u20$as$u20$kcmdline..cmdline..Show$GT$4show17hbc5a0bcc999c439eE",
			"<kcmdline::cmdline::Cmdline as kcmdline::cmdline::Show>::show"},
		{"legacy LLVM suffix", "_ZN8kcmdline7cmdline9unchanged17h2f48865a2b421e56E.llvm.1234", "kcmdline::cmdline::unchanged"},
		{"v0", "_RNvNtCs388oJcGBIAU_8kcmdline7cmdline9unchanged", "kcmdline::cmdline::unchanged"},
		{"v0 trait impl", "_RNvXs_NtCs388oJcGBIAU_8kcmdline7cmdlineNtB4_7CmdlineNtB4_4Show4show",
			"<kcmdline::cmdline::Cmdline as kcmdline::cmdline::Show>::show"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Display(tc.raw); got != tc.want {
				t.Errorf("Display(%q) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}

// TestRefusalShowsDemangled checks that a refusal of a Rust symbol is
// shown demangled, in its error and JSON, and keeps the raw name in JSON.
func TestRefusalShowsDemangled(t *testing.T) {
	const raw = "_RNvNtCs388oJcGBIAU_8kcmdline7cmdline5LIMIT"
	res := &Result{Arch: "x86_64", Refusals: []Refusal{{Symbol: raw, Section: ".data." + raw, Rule: "data-changed", Reason: "initializer changed"}},
		Carry: Carry{Data: []string{raw}}}
	if err := res.Err(); err == nil || !strings.Contains(err.Error(), ": kcmdline::cmdline::LIMIT: initializer changed") {
		t.Errorf("Err() = %v, want the symbol demangled", err)
	}
	var b bytes.Buffer
	if err := res.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"symbol": "kcmdline::cmdline::LIMIT",` + "\n      " + `"mangled": "` + raw + `",`,
		`"data": [` + "\n      " + `"kcmdline::cmdline::LIMIT"`,
		`"rule": "data-changed"`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("JSON lacks %q:\n%s", want, b.String())
		}
	}
}
