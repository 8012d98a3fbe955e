package patchgen

import (
	"fmt"
	"strings"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

// hookField maps each kind of hook a patched source may declare
// (elfdiff.HookKinds) to the field of struct ksplice_update whose call runs
// it: kpatch's load hooks and post-patch callbacks run once the update is
// applied, its unload hooks and pre-unpatch callbacks before it is undone.
var hookField = map[string]string{
	"pre_apply": "pre_apply", "pre_patch": "pre_apply",
	"post_apply": "post_apply", "load": "post_apply", "post_patch": "post_apply",
	"pre_reverse": "pre_reverse", "unload": "pre_reverse", "pre_unpatch": "pre_reverse",
	"post_reverse": "post_reverse", "post_unpatch": "post_reverse",
}

// sourceHook is a hook of the patched source, carried as new code.
type sourceHook struct {
	kind  string // elfdiff.HookKinds
	name  string
	place string // label+offset of the carried function
}

// sourceHooks returns the hooks the carried objects declare, in the order
// of the objects and of their entries. Each hook function must be carried.
func (g *gen) sourceHooks() ([]sourceHook, error) {
	var hs []sourceHook
	for _, o := range g.in.Objects {
		a := o.Result.Authored
		if a == nil {
			continue
		}
		for _, h := range a.Hooks {
			var fd *elfdiff.FuncDiff
			for _, f := range o.Result.Functions {
				if f.Name == h.Function && f.Post != nil && f.Carry {
					fd = f
				}
			}
			lbl, ok := "", false
			if fd != nil {
				lbl, ok = g.labels[fd.Post.Section]
			}
			if !ok {
				return nil, fmt.Errorf("%w: %s: hook %s (%s) is not carried", ErrUnsupported, o.Rel, h.Function, h.Kind)
			}
			hs = append(hs, sourceHook{kind: h.Kind, name: h.Function, place: fmt.Sprintf("%s+%#x", lbl, fd.Post.Offset)})
		}
	}
	return hs, nil
}

// hookWrappers writes, for each field of struct ksplice_update that has
// hooks, a function calling them in order: the hook file's (--hooks)
// first, then the patched source's. An int hook that returns non-zero
// stops the calls and is the result. It returns the fields' values.
func (g *gen) hookWrappers(w func(string, ...any)) (map[string]string, error) {
	src, err := g.sourceHooks()
	if err != nil {
		return nil, err
	}
	fields := map[string]string{}
	if len(src) == 0 {
		if g.in.Hooks != nil {
			for _, h := range HookNames {
				fields[strings.TrimPrefix(h, "ksplice_hook_")] = h
			}
		}
		return fields, nil
	}
	w("\n/* Hooks of the patched source (author macros), carried as new code */\n")
	for i, h := range HookNames {
		field := strings.TrimPrefix(h, "ksplice_hook_")
		var calls []sourceHook
		for _, s := range src {
			if hookField[s.kind] == field {
				calls = append(calls, s)
			}
		}
		if len(calls) == 0 {
			if g.in.Hooks != nil {
				fields[field] = h
			}
			continue
		}
		isInt := i%2 == 0
		wrapper := "ksplice_hooks_" + field
		fields[field] = wrapper
		if isInt {
			w("\nstatic int %s(void)\n{\n\tint ret = 0;\n\n", wrapper)
		} else {
			w("\nstatic void %s(void)\n{\n", wrapper)
		}
		if g.in.Hooks != nil {
			if isInt {
				w("\tif (%s) {\n\t\tret = %s();\n\t\tif (ret)\n\t\t\treturn ret;\n\t}\n", h, h)
			} else {
				w("\tif (%s)\n\t\t%s();\n", h, h)
			}
		}
		for _, c := range calls {
			fn := expr(c.place)
			withObj := strings.Contains(elfdiff.HookKinds[c.kind], "klp_object")
			returnsInt := strings.HasPrefix(elfdiff.HookKinds[c.kind], "int")
			args, proto := "()", "(void)"
			if withObj {
				// kpatch's callbacks take a klp_object; a ksplice
				// update has none.
				args, proto = "(NULL)", "(void *)"
			}
			w("\t/* %s: %s */\n", c.kind, c.name)
			switch {
			case returnsInt:
				w("\tret = ((int (*)%s)%s)%s;\n\tif (ret)\n\t\treturn ret;\n", proto, fn, args)
			default:
				w("\t((void (*)%s)%s)%s;\n", proto, fn, args)
			}
		}
		if isInt {
			w("\treturn ret;\n")
		}
		w("}\n")
	}
	return fields, nil
}
