package patchgen

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	arrayStart = regexp.MustCompile(`static const struct ksplice_func (ksplice_funcs|ksplice_helpers)\[\] = \{`)
	funcName   = regexp.MustCompile(`\.name = "([^"\\]*)(?:\\000[^"]*)?"`)
	oldFuncRef = regexp.MustCompile(`\.old_func = &(ksplice_funcs|ksplice_helpers)\[(\d+)\]`)
)

// namedOldFuncs rewrites tables.c's ".old_func = &ksplice_funcs[N]" into
// ".old_func = "NAME"" (and "helper:NAME" for ksplice_helpers), so that
// tests can say which old code a relocation binds through.
func namedOldFuncs(tables string) string {
	names := map[string][]string{}
	array := ""
	for _, l := range strings.Split(tables, "\n") {
		if m := arrayStart.FindStringSubmatch(l); m != nil {
			array = m[1]
			continue
		}
		if array != "" && l == "};" {
			array = ""
			continue
		}
		if m := funcName.FindStringSubmatch(l); m != nil && array != "" {
			names[array] = append(names[array], m[1])
		}
	}
	return oldFuncRef.ReplaceAllStringFunc(tables, func(s string) string {
		m := oldFuncRef.FindStringSubmatch(s)
		var i int
		fmt.Sscan(m[2], &i)
		if i >= len(names[m[1]]) {
			return s + " /* out of range */"
		}
		prefix := ""
		if m[1] == "ksplice_helpers" {
			prefix = "helper:"
		}
		return fmt.Sprintf(`.old_func = "%s%s"`, prefix, names[m[1]][i])
	})
}
