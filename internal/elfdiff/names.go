package elfdiff

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"strings"

	"github.com/ianlancetaylor/demangle"
)

// Display returns a symbol's name as people read it: Rust symbols, as
// kernels built with CONFIG_RUST have them, demangled (legacy mangling,
// _ZN...17h<hash>E, shown without its hash; v0 mangling, _R...), and any
// other name unchanged. It is for output only: diffs pair, carry and refuse
// symbols by their raw names, and the JSON form keeps the raw name of every
// demangled one as "mangled".
func Display(name string) string {
	if !strings.HasPrefix(name, "_R") && !strings.HasPrefix(name, "_ZN") {
		return name
	}
	s, err := demangle.ToString(name)
	if err != nil || s == "" {
		return name
	}
	return s
}

// mangled is the raw name of a symbol that Display shows otherwise, else "".
func mangled(name string) string {
	if Display(name) == name {
		return ""
	}
	return name
}

// MarshalJSON writes the function's JSON form (docs/elfdiff.md): "name" is
// as Display shows it, "mangled" the raw symbol name when they differ.
func (fd FuncDiff) MarshalJSON() ([]byte, error) {
	type plain FuncDiff
	return marshal(struct {
		Name    string `json:"name"`
		Mangled string `json:"mangled,omitempty"`
		plain
	}{Display(fd.Name), mangled(fd.Name), plain(fd)})
}

// MarshalJSON writes the data object's JSON form, named as FuncDiff's.
func (dd DataDiff) MarshalJSON() ([]byte, error) {
	type plain DataDiff
	return marshal(struct {
		Name    string `json:"name"`
		Mangled string `json:"mangled,omitempty"`
		plain
	}{Display(dd.Name), mangled(dd.Name), plain(dd)})
}

// MarshalJSON writes the refusal's JSON form: "symbol" as Display shows
// it, "mangled" the raw symbol name when they differ.
func (r Refusal) MarshalJSON() ([]byte, error) {
	type plain Refusal
	return marshal(struct {
		Symbol  string `json:"symbol"`
		Mangled string `json:"mangled,omitempty"`
		plain
	}{Display(r.Symbol), mangled(r.Symbol), plain(r)})
}

// MarshalJSON writes the carried names as Display shows them, as the
// functions and data objects they name are shown.
func (c Carry) MarshalJSON() ([]byte, error) {
	type plain Carry
	d := plain{Functions: displayAll(c.Functions), Data: displayAll(c.Data)}
	return marshal(d)
}

func displayAll(names []string) []string {
	if names == nil {
		return nil
	}
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = Display(n)
	}
	return out
}

// marshal is json.Marshal without HTML escaping: demangled names hold
// '<' and '>' ("<T as Trait>::f").
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// normalize strips the numbers the compiler adds to local names, so that
// renumbered twins compare equal: "count.3" -> "count",
// "foo.constprop.0.isra.1" -> "foo.constprop.isra", "bar.cold.2" ->
// "bar.cold". What remains of the suffixes still tells clones of different
// kinds apart. The kernel's __UNIQUE_ID(prefix) appends __COUNTER__ to its
// names: "__UNIQUE_ID_ddebug412" -> "__UNIQUE_ID_ddebug". BTF_ID()
// appends __COUNTER__ and __LINE__ to the names of its .BTF_ids slots, so
// that a line added above one renames it:
// "__BTF_ID__struct__bpf_shtab__8201422" -> "__BTF_ID__struct__bpf_shtab__".
func normalize(name string) string {
	if strings.HasPrefix(name, uniqueIDPrefix) || strings.HasPrefix(name, btfIDPrefix) {
		head, tail, _ := strings.Cut(name, ".")
		name = strings.TrimRight(head, "0123456789")
		if tail != "" {
			name += "." + tail
		}
	}
	if !strings.Contains(name, ".") {
		return name
	}
	parts := strings.Split(name, ".")
	out := parts[:1]
	for _, p := range parts[1:] {
		if p != "" && strings.Trim(p, "0123456789") == "" {
			continue
		}
		out = append(out, p)
	}
	return strings.Join(out, ".")
}

// uniqueIDPrefix starts the names the kernel's __UNIQUE_ID() makes.
const uniqueIDPrefix = "__UNIQUE_ID_"

// btfIDPrefix starts the names of the slots BTF_ID() and BTF_ID_FLAGS()
// (include/linux/btf_ids.h) make in .BTF_ids.
const btfIDPrefix = "__BTF_ID__"

// parentName returns the name of the function a .cold or .part clone was
// split from ("foo.isra.0.cold" -> "foo.isra.0"), or "".
func parentName(name string) string {
	parts := strings.Split(name, ".")
	n := len(parts[0])
	for _, p := range parts[1:] {
		if p == "cold" || p == "part" {
			return name[:n]
		}
		n += 1 + len(p)
	}
	return ""
}

// PreLabel returns the pre-patch name of a post-object label that is
// neither a function nor a data object and whose name carries a counter
// (a .BTF_ids slot of BTF_ID(), renamed by any line added above it): the
// pre object's label at the same offset of the section of the same name,
// with the same name once the counters are removed. The running kernel
// knows the slot by that name.
func (r *Result) PreLabel(s *Symbol) (string, bool) {
	if r.Pre == nil || !s.Defined() || s.fn != nil || s.obj != nil || s.Type == elf.STT_SECTION {
		return "", false
	}
	key := normalize(s.Name)
	if key == s.Name {
		return "", false
	}
	for _, p := range r.Pre.Symbols[1:] {
		if p.Defined() && p.Section.Name == s.Section.Name && p.Value == s.Value && p.Name != s.Name && normalize(p.Name) == key {
			return p.Name, true
		}
	}
	return "", false
}
