package elfdiff

import (
	"fmt"
	"slices"
	"strings"
)

// Sections the author headers (kmod-src/include/ksplice-patch.h and the
// kpatch compatibility headers) emit into the patched object. The kernel
// never links them: they tell create which functions are hooks and which
// changes to leave out.
const (
	// HookSectionPrefix, then the hook's kind: ".ksplice.hooks.post_apply".
	// Each entry is a pointer to the hook function.
	HookSectionPrefix = ".ksplice.hooks."
	// IgnoreFunctionsSection holds pointers to functions the update must
	// not carry (KSPLICE_IGNORE_FUNCTION, KPATCH_IGNORE_FUNCTION).
	IgnoreFunctionsSection = ".ksplice.ignore.functions"
	// IgnoreSectionsSection holds pointers to the names of sections whose
	// changes the update must leave out (KSPLICE_IGNORE_SECTION).
	IgnoreSectionsSection = ".ksplice.ignore.sections"
	// ForceSection holds pointers to functions kpatch would patch without
	// its stack check (KPATCH_FORCE_UNSAFE); ksplice only reports them.
	ForceSection = ".ksplice.force"
)

// HookKinds are the kinds of hooks a patched source may declare, with the
// signature each has: ksplice's own (the fields of struct ksplice_update)
// and kpatch's load/unload hooks and patch callbacks.
var HookKinds = map[string]string{
	"pre_apply":    "int (void)",
	"post_apply":   "void (void)",
	"pre_reverse":  "int (void)",
	"post_reverse": "void (void)",
	"load":         "void (void)",
	"unload":       "void (void)",
	"pre_patch":    "int (struct klp_object *)",
	"post_patch":   "void (struct klp_object *)",
	"pre_unpatch":  "void (struct klp_object *)",
	"post_unpatch": "void (struct klp_object *)",
}

func isAuthored(name string) bool {
	return strings.HasPrefix(name, HookSectionPrefix) || name == IgnoreFunctionsSection ||
		name == IgnoreSectionsSection || name == ForceSection
}

// Hook is a hook function the patched source declares.
type Hook struct {
	Kind     string `json:"kind"`     // a key of HookKinds
	Function string `json:"function"` // in the post object; the update carries it
}

// Authored is what the author macros of the post object ask for.
type Authored struct {
	Hooks []Hook `json:"hooks,omitempty"`
	// IgnoredFunctions and IgnoredSections were left out of the update.
	IgnoredFunctions []string `json:"ignored_functions,omitempty"`
	IgnoredSections  []string `json:"ignored_sections,omitempty"`
	// Forced are the functions KPATCH_FORCE_UNSAFE names: ksplice checks
	// their stacks all the same.
	Forced []string `json:"forced,omitempty"`
}

// readAuthored reads the author sections of f. An entry that does not
// point where its macro points (the start of a function, a string) is a
// FormatError.
func (f *File) readAuthored() (*Authored, error) {
	a := &Authored{}
	for _, sec := range f.Sections[1:] {
		if sec.Kind != KindAuthor {
			continue
		}
		for _, r := range f.resolve(sec, 0, sec.Size, nil) {
			if r.Info.Kind == 0 {
				continue
			}
			if sec.Name == IgnoreSectionsSection {
				if !r.Target.IsString {
					return nil, &FormatError{Section: sec.Name, Msg: fmt.Sprintf("entry at +%#x does not point to a section name", r.Offset)}
				}
				a.IgnoredSections = append(a.IgnoredSections, r.Target.String)
				continue
			}
			fn := r.Target.Sym.Function()
			if fn == nil || r.Target.Off != 0 {
				return nil, &FormatError{Section: sec.Name, Msg: fmt.Sprintf("entry at +%#x does not point to the start of a function", r.Offset)}
			}
			switch {
			case sec.Name == IgnoreFunctionsSection:
				a.IgnoredFunctions = append(a.IgnoredFunctions, fn.Name)
			case sec.Name == ForceSection:
				a.Forced = append(a.Forced, fn.Name)
			default:
				kind := strings.TrimPrefix(sec.Name, HookSectionPrefix)
				if _, ok := HookKinds[kind]; !ok {
					return nil, &FormatError{Section: sec.Name, Msg: "unknown kind of hook " + kind}
				}
				a.Hooks = append(a.Hooks, Hook{Kind: kind, Function: fn.Name})
			}
		}
	}
	return a, nil
}

// applyAuthored leaves out of the update, with the refusals they drew, the
// functions and data the author asked to ignore, and keeps the hooks whose
// functions the update carries (new or changed in the patch): a hook that
// the object before the patch declared already, unchanged, belongs to the
// tree the patch applies to (an earlier update's), not to this update.
func (d *differ) applyAuthored() error {
	a, err := d.post.readAuthored()
	if err != nil {
		return err
	}
	ignored := func(name, section string) bool {
		return slices.Contains(a.IgnoredFunctions, name) || slices.Contains(a.IgnoredSections, section)
	}
	for _, fd := range d.res.Functions {
		if fd.Carry && ignored(fd.Name, fd.Section) {
			fd.Carry = false
			fd.Reasons = append(fd.Reasons, "ignored by the author (IGNORE_FUNCTION or IGNORE_SECTION)")
		}
	}
	for _, dd := range d.res.Data {
		if dd.Carry && slices.Contains(a.IgnoredSections, dd.Section) {
			dd.Carry = false
			dd.Reasons = append(dd.Reasons, "ignored by the author (IGNORE_SECTION)")
		}
	}
	hooks := a.Hooks[:0]
	for _, h := range a.Hooks {
		for _, fd := range d.res.Functions {
			if fd.Name == h.Function && fd.Post != nil && fd.Carry {
				hooks = append(hooks, h)
				break
			}
		}
	}
	a.Hooks = hooks
	if len(a.Hooks)+len(a.IgnoredFunctions)+len(a.IgnoredSections)+len(a.Forced) > 0 {
		d.res.Authored = a
	}
	kept := d.res.Refusals[:0]
	for _, r := range d.res.Refusals {
		if !ignored(r.Symbol, r.Section) {
			kept = append(kept, r)
		}
	}
	d.res.Refusals = kept
	return nil
}
