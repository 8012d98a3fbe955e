package elfdiff

import "strings"

// normalize strips the numbers the compiler adds to local names, so that
// renumbered twins compare equal: "count.3" -> "count",
// "foo.constprop.0.isra.1" -> "foo.constprop.isra", "bar.cold.2" ->
// "bar.cold". What remains of the suffixes still tells clones of different
// kinds apart. The kernel's __UNIQUE_ID(prefix) appends __COUNTER__ to its
// names: "__UNIQUE_ID_ddebug412" -> "__UNIQUE_ID_ddebug".
func normalize(name string) string {
	if strings.HasPrefix(name, uniqueIDPrefix) {
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
