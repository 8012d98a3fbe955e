package patchgen

import (
	"bufio"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/elfdiff"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// ErrUnsupported means the change set needs something patchgen cannot
// generate yet; the error names it.
var ErrUnsupported = fmt.Errorf("%w: cannot generate update", verdict.ErrUnsupported)

// ErrNothingReplaced means the update would only add functions: no
// running function calls them and none is replaced, so it could not change
// what the kernel does (typically a function renamed in one file whose
// callers in other files the patch does not change). It wraps
// verdict.ErrRefused.
var ErrNothingReplaced = fmt.Errorf("%w: the update replaces no running function", verdict.ErrRefused)

// Object is one object's diff, as elfdiff computed it.
type Object struct {
	Rel    string // "fs/proc/cmdline.o"
	Result *elfdiff.Result
}

// Input is what one update module is generated from: the diffs of the
// objects of one target (vmlinux or one module).
type Input struct {
	ID          string // update id
	EngineID    string // id the module registers with the engine; default ID
	Description string
	Target      string // "vmlinux" or a module name
	Objects     []Object
	// Exported reports whether the module loader can resolve a symbol for
	// the update module: exported by vmlinux or a module
	// (Module.symvers).
	Exported func(name string) bool
	// Namespace is the symbol namespace of an exported symbol
	// (EXPORT_SYMBOL_NS: the fifth field of Module.symvers), or "";
	// nil for none. The module imports the namespaces of the exports it
	// uses: modpost refuses to link it otherwise, and the module loader
	// to load it.
	Namespace func(name string) string
	// Hooks is the author's hook file (kernel C), compiled into the
	// module as hooks.c; nil for none. See HookNames.
	Hooks []byte
}

// HookNames are the functions a hook file may define, in the order of their
// fields in struct ksplice_update.
var HookNames = []string{
	"ksplice_hook_pre_apply", "ksplice_hook_post_apply",
	"ksplice_hook_pre_reverse", "ksplice_hook_post_reverse",
}

// How the engine diverts the calls of a replaced function (Func.Method).
const (
	// MethodFtrace: an IPMODIFY ftrace_ops on its ftrace site.
	MethodFtrace = "ftrace"
	// MethodJump: a direct jump written over its first instructions,
	// for a function without an ftrace site (KSPLICE_SITE_ENTRY_JUMP).
	MethodJump = "jump"
)

// Func is a function the update carries.
type Func struct {
	Name     string
	Object   string
	Replaced bool // it replaces a running function (else it is new)
	// Method is how the engine sends calls of a replaced function to
	// the new code: MethodFtrace or MethodJump; "" for a new function.
	Method  string
	OldSize uint64
	NewSize uint64
}

// Module is a generated module source.
type Module struct {
	Name  string            // module name: ksplice_<id>_<target>
	Files map[string][]byte // file name -> contents: Kbuild, tables.c, new.S
	Funcs []Func
	// Keep says why the module must stay loaded after the update is
	// undone (see gen.publishes), one line per reason; empty when it
	// may be unloaded. The tables carry KSPLICE_UPDATE_KEEP_MODULE then.
	Keep []string
	// ByName are the symbols the engine finds by name alone in the
	// running kernel's kallsyms (no old code refers to them, and no
	// export): the ones the running kernel must have for the update to
	// apply. Sorted, each once.
	ByName []string
}

// placeholderAsm is the target of engine-resolved calls until the engine
// resolves them: a trap, should one ever run.
const placeholderAsm = `
	.section .ksplice.placeholder,"ax",%%progbits
	.type ksplice_placeholder, @function
ksplice_placeholder:
	%s
	.size ksplice_placeholder, .-ksplice_placeholder
`

// ModuleName returns the name of the update module of id for target.
func ModuleName(id, target string) string {
	return "ksplice_" + id + "_" + strings.NewReplacer("-", "_", ".", "_").Replace(target)
}

// Generate writes the module source for in. Errors wrap ErrUnsupported
// when the change set needs what patchgen cannot yet emit.
func Generate(in Input) (*Module, error) {
	if in.Exported == nil {
		return nil, errors.New("patchgen: no export table")
	}
	g := &gen{in: in, labels: map[*elfdiff.Section]string{}, entryLabels: map[*elfdiff.Entry]string{}, imports: map[string]bool{}}
	// Every export the loader is asked to resolve is one the module
	// uses: its namespace is imported.
	g.in.Exported = func(name string) bool {
		ok := in.Exported(name)
		if ok && in.Namespace != nil {
			ns := in.Namespace(name)
			if strings.HasPrefix(ns, "module:") {
				// Exported only to the modules it names
				// (EXPORT_SYMBOL_FOR_MODULES, 6.12.113): the
				// loader refuses it to any other, whatever it
				// imports. The update finds it as it finds an
				// unexported symbol.
				return false
			}
			if ns != "" {
				g.imports[ns] = true
			}
		}
		return ok
	}
	// Functions an object of the update adds as globals: the running
	// kernel has no such function, so another object's new code that
	// calls one (a fix in two files, made as one update) must reach the
	// update's own copy.
	g.newGlobals = map[string]*elfdiff.Function{}
	for _, o := range in.Objects {
		for _, fd := range o.Result.CarriedFunctions() {
			if fd.Status == elfdiff.StatusNew && fd.Post != nil && fd.Post.Sym != nil && fd.Post.Sym.Bind == elf.STB_GLOBAL {
				g.newGlobals[fd.Post.Name] = fd.Post
			}
		}
	}
	for _, o := range in.Objects {
		if err := g.object(o); err != nil {
			return nil, fmt.Errorf("%s: %w", o.Rel, err)
		}
	}
	if len(g.funcs) == 0 && in.Hooks == nil {
		return nil, fmt.Errorf("%w: no function to replace in %s", verdict.ErrRefused, in.Target)
	}
	if g.nrReplaced(false) == 0 && in.Hooks == nil && !authoredHooks(in) {
		// New functions alone are dead code: nothing running calls
		// them, and the engine has nothing to switch (it rejects such
		// an update as malformed).
		return nil, fmt.Errorf("%w: %s", ErrNothingReplaced, unreachable(in))
	}
	for ns := range g.imports {
		if !cIdentifier.MatchString(ns) {
			return nil, fmt.Errorf("%w: the export namespace %q is not a C identifier (MODULE_IMPORT_NS takes one on 6.1 and 6.12)", ErrUnsupported, ns)
		}
	}
	m := &Module{Name: ModuleName(in.ID, in.Target), Funcs: g.funcs, Files: map[string][]byte{}, Keep: g.keep}
	for _, r := range g.newRelocs {
		if r.oldFunc < 0 && !slices.Contains(m.ByName, r.symbol) {
			m.ByName = append(m.ByName, r.symbol)
		}
	}
	for _, k := range g.keys {
		if k.oldFunc < 0 && !k.exported && !slices.Contains(m.ByName, k.symbol) {
			m.ByName = append(m.ByName, k.symbol)
		}
	}
	sort.Strings(m.ByName)
	if g.placeholder {
		fmt.Fprintf(&g.asm, placeholderAsm, g.trap)
	}
	m.Files["new.S"] = []byte(g.asm.String())
	m.Files["tables.c"] = []byte(g.tables(m.Name))
	objs := "tables.o new.o"
	if in.Hooks != nil {
		m.Files["hooks.c"] = in.Hooks
		objs += " hooks.o"
	}
	m.Files["Kbuild"] = []byte(fmt.Sprintf(
		"# Generated by ksplice create: do not edit.\nobj-m := %s.o\n%s-y := %s\nccflags-y := -I$(src)/include\n",
		m.Name, m.Name, objs))
	return m, nil
}

// gen accumulates the generated sources.
var cIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

type gen struct {
	in Input
	// imports are the symbol namespaces of the exports the module uses.
	imports map[string]bool
	asm     strings.Builder
	funcs   []Func
	labels  map[*elfdiff.Section]string // carried section -> its label
	nlabel  int
	// placeholder is set when new.S needs ksplice_placeholder.
	placeholder bool
	trap        string // the architecture's trap instruction

	replaced  []replaced
	newRelocs []newReloc
	// newGlobals are the global functions the update's objects add, by
	// name.
	newGlobals map[string]*elfdiff.Function
	// veneers maps an engine-resolved branch target to the label of its
	// veneer (architectures with a BranchVeneer); veneerLabels in order.
	veneers      map[string]string
	veneerLabels []string
	// carriedFn are the post object's carried functions, and spans the
	// pieces of its payload sections (see payloadSections).
	carriedFn map[*elfdiff.Function]bool
	spans     map[*elfdiff.Section][]span
	// aliases are the kernel names given to carried functions (see alias).
	aliases map[string]bool
	// entryLabels name the update's copies of carried entries that code
	// refers to (see addressable).
	entryLabels map[*elfdiff.Entry]string
	// preNames maps post-object symbols to their names in the pre object,
	// which are the running kernel's names.
	preNames map[*elfdiff.Symbol]string
	// replacedOf maps a carried function that replaces a running one to
	// its index in replaced (see publishes).
	replacedOf map[*elfdiff.Function]int
	// keep are the reasons the update module must outlive an undo.
	keep []string
	// keys are the jump labels of new code the engine binds to their
	// keys (see jumpKey).
	keys []jumpKey
}

type replaced struct {
	obj string // the object it comes from, "fs/proc/cmdline.o"
	// helper marks a function that is only matched, never replaced (see
	// helperFor).
	helper bool
	name   string
	old    *elfdiff.Function
	label  string // of the new function
	sites  []site
	relocs []oldReloc
}

type oldReloc struct {
	off    uint64
	typ    uint32
	symbol string
	addend int64
	// sec and at are where the symbol whose address the engine deduces
	// from this relocation lies in the object the old code comes from
	// (at is its offset in sec); sec is nil when that symbol is not
	// defined there, or defined in a pool the linker merges. deduces
	// is false for a relocation the engine deduces nothing from (see
	// deduces).
	sec     *elfdiff.Section
	at      uint64
	deduces bool
}

type site struct {
	off    uint64
	len    int
	kind   int
	target int64
}

// jumpKey is a jump label of new code whose key the engine binds (see
// gen.jumpKey): struct ksplice_key.
type jumpKey struct {
	code     string // label+offset of the jump label's code
	symbol   string // the key's symbol, as the running kernel names it
	addend   int64  // offset of the key in symbol, plus the branch flag
	exported bool   // the module loader resolves symbol
	oldFunc  int    // index in gen.replaced to bind through, -1: by name
}

type newReloc struct {
	place  string // label+offset expression
	typ    uint32
	symbol string
	// oldFunc is the index in gen.replaced of the function whose old
	// code refers to symbol, -1 for none.
	oldFunc int
	addend  int64
}

// object generates the parts of one object.
func (g *gen) object(o Object) error {
	res := o.Result
	post := res.Post
	g.trap = post.Arch.Trap
	g.preNames = map[*elfdiff.Symbol]string{}
	for _, fd := range res.Functions {
		if fd.Pre != nil && fd.Post != nil {
			g.preNames[fd.Post.Sym] = fd.Pre.Name
		}
	}
	for _, dd := range res.Data {
		if dd.Pre != nil && dd.Post != nil {
			g.preNames[dd.Post.Sym] = dd.Pre.Name
		}
	}
	// Labels renumbered by the patch (BTF_ID()'s .BTF_ids slots) are
	// known to the running kernel by their pre-patch names.
	for _, s := range post.Symbols[1:] {
		if pre, ok := res.PreLabel(s); ok {
			g.preNames[s] = pre
		}
	}

	// Label every section the update carries first, so that relocations
	// between carried code and data resolve to labels whatever the order.
	carried := res.CarriedFunctions()
	for _, fd := range carried {
		g.label(fd.Post.Section)
	}
	// elfdiff carries data only the carried code uses: new data, or
	// read-only data that changed. New writable data starts from its
	// initializer in the update module, as it would have at boot.
	for _, dd := range res.CarriedData() {
		g.label(dd.Post.Section)
	}
	// String literal pools referenced by carried code are carried whole:
	// strings are immutable, and a copy keeps every offset valid.
	for _, fd := range carried {
		relocs := fd.Post.Relocs
		for _, e := range fd.Post.Entries {
			if carriedEntry(e.Special.Name) {
				relocs = append(append([]elfdiff.Reloc{}, relocs...), e.Relocs...)
			}
		}
		for _, r := range relocs {
			if s := r.Sym; s != nil && s.Section != nil && s.Section.Kind == elfdiff.KindStrings {
				g.label(s.Section)
			}
		}
	}
	// So is any other anonymous read-only data they read (jump tables,
	// constant pools), and what that data points to in turn.
	g.labelAnonymous(res.Post, carried)
	// And the pieces of shared code (alternatives' replacements,
	// static_cpu_has()'s slow path) that they use.
	g.carriedFn = map[*elfdiff.Function]bool{}
	for _, fd := range carried {
		g.carriedFn[fd.Post] = true
	}
	g.spans = payloadSpans(res.Post)
	g.labelPayload(carried)
	g.labelEntries(carried)
	// The old code first: the new code's relocations name the replaced
	// function whose old code refers to the same symbol.
	oldOf := map[*elfdiff.FuncDiff]int{}
	for _, fd := range carried {
		if fd.Pre != nil && !isCold(fd.Name) && !fd.ThroughCallers {
			old, ok := res.OldCode(fd)
			if !ok {
				return fmt.Errorf("%w: old code of %s: the kernel's own build of the object (without section flags) has no function %s: the compiler inlined or cloned it differently there, and run-pre cannot verify code the running kernel may not have", ErrUnsupported, fd.Pre.Name, fd.Pre.Name)
			}
			r, err := g.oldFunc(res.Pre.Arch, old, fmt.Sprintf("%s+%#x", g.labels[fd.Post.Section], fd.Post.Offset))
			if err != nil {
				return err
			}
			r.obj = o.Rel
			if fd.Jump != nil {
				if err := r.addJumpWindow(res.Pre.Arch, *fd.Jump); err != nil {
					return err
				}
			}
			oldOf[fd] = len(g.replaced)
			if g.replacedOf == nil {
				g.replacedOf = map[*elfdiff.Function]int{}
			}
			g.replacedOf[fd.Post] = len(g.replaced)
			g.replaced = append(g.replaced, r)
		}
	}

	// Function-local read-only statics that no old code refers to.
	g.labelLocalReadOnly(o.Rel, res, carried)

	// Emit carried sections in index order for a stable output.
	secs := make([]*elfdiff.Section, 0, len(g.labels))
	for s := range g.labels {
		if s != nil && sectionOf(post, s) {
			secs = append(secs, s)
		}
	}
	sort.Slice(secs, func(i, j int) bool { return secs[i].Index < secs[j].Index })
	for _, s := range secs {
		if err := g.section(o, s); err != nil {
			return err
		}
	}

	for _, fd := range carried {
		f := fd.Post
		lbl := g.labels[f.Section]
		fn := Func{Name: fd.Name, Object: o.Rel, NewSize: f.Size}
		if i, ok := oldOf[fd]; ok {
			fn.Replaced = true
			fn.OldSize = g.replaced[i].old.Size
			fn.Method = MethodFtrace
			if fd.Jump != nil {
				fn.Method = MethodJump
			}
		}
		g.funcs = append(g.funcs, fn)
		if err := g.entries(o, f, lbl); err != nil {
			return err
		}
	}
	return nil
}

// labelAnonymous labels the anonymous read-only sections that carried
// functions, their carried entries, or anonymous data already labelled
// refer to, so that the update carries a copy of each.
func (g *gen) labelAnonymous(post *elfdiff.File, carried []*elfdiff.FuncDiff) {
	var work []*elfdiff.Section
	visit := func(rs []elfdiff.Reloc) {
		for _, r := range rs {
			s := r.Sym
			if s == nil || s.Section == nil || !s.Section.AnonymousReadOnly() || !sectionOf(post, s.Section) {
				continue
			}
			if _, ok := g.labels[s.Section]; !ok {
				g.label(s.Section)
				work = append(work, s.Section)
			}
		}
	}
	for _, fd := range carried {
		visit(fd.Post.Relocs)
		for _, e := range fd.Post.Entries {
			if carriedEntry(e.Special.Name) {
				visit(e.Relocs)
			}
		}
	}
	for len(work) > 0 {
		s := work[0]
		work = work[1:]
		visit(post.SectionRelocs(s))
	}
}

// labelLocalReadOnly labels the read-only statics of functions (__func__.N,
// a const table.N) that carried code, entries or data refer to and that no
// replaced function's old code refers to: run-pre matching cannot bind them,
// and by name a kernel has hundreds (295 __func__.1 in Debian's 6.1). Their
// contents never change and nothing compares their addresses, so the
// update carries a copy. Read-only statics that old code does refer to keep
// binding through run-pre, except from carried entries: the module loader
// relocates those when it loads the update, before run-pre runs (a
// pr_debug descriptor's function field, when the function's code passes
// __func__ too), so they always get the copy. Writable ones are never
// copied.
func (g *gen) labelLocalReadOnly(rel string, res *elfdiff.Result, carried []*elfdiff.FuncDiff) {
	visit := func(rs []elfdiff.Reloc, atLoad bool) {
		for _, r := range rs {
			o := r.Target.Sym.Object()
			if o == nil || o.Section.Writable() || o.Section.Init() || o.Sym.Bind != elf.STB_LOCAL ||
				!strings.Contains(o.Name, ".") || !sectionOf(res.Post, o.Section) {
				continue
			}
			if _, ok := g.labels[o.Section]; ok {
				continue
			}
			name := o.Name
			if pre, ok := g.preNames[o.Sym]; ok {
				name = pre
			}
			if atLoad || g.oldUser(name, rel, true) < 0 {
				g.label(o.Section)
			}
		}
	}
	for _, fd := range carried {
		for _, e := range fd.Post.Entries {
			if carriedEntry(e.Special.Name) {
				visit(e.Relocs, true)
			}
		}
	}
	for _, fd := range carried {
		visit(fd.Post.Relocs, false)
	}
	for _, dd := range res.CarriedData() {
		visit(dd.Post.Relocs, false)
	}
}

func sectionOf(f *elfdiff.File, s *elfdiff.Section) bool {
	return s.Index < len(f.Sections) && f.Sections[s.Index] == s
}

func isCold(name string) bool {
	return strings.Contains(name, ".cold")
}

// alias gives the carried function that fills section s its kernel name
// with a ".ksplice" suffix, as a local symbol of the update module:
// kallsyms, and so an oops or a stack trace, then reads
// "cmdline_proc_show.ksplice+0x12/0x39 [ksplice_ID_vmlinux]" rather than
// "ksplice_n0". Not the bare name: kprobes, perf probe and bpftrace refuse
// a function name that kallsyms has twice. Local symbols come first in the
// symbol table, which is where kallsyms looks first among symbols of one
// address. A name the module already has (a namesake in another object)
// keeps the label.
func (g *gen) alias(o Object, s *elfdiff.Section, lbl string) {
	if s.Flags&elf.SHF_EXECINSTR == 0 {
		return
	}
	for _, f := range o.Result.Post.Functions {
		name := aliasName(f.Name)
		if f.Section != s || f.Offset != 0 || f.Size != s.Size || g.aliases[name] {
			continue
		}
		if g.aliases == nil {
			g.aliases = map[string]bool{}
		}
		g.aliases[name] = true
		fmt.Fprintf(&g.asm, "\t.type %s, @function\n\t.set %s, %s\n\t.size %s, %d\n", name, name, lbl, name, f.Size)
	}
}

// aliasName is NAME.ksplice, or for a .cold part NAME.ksplice.cold:
// objtool finds a cold part's parent by cutting its name at ".cold", and
// the parent is NAME.ksplice here.
func aliasName(name string) string {
	if i := strings.Index(name, ".cold"); i >= 0 {
		return name[:i] + ".ksplice" + name[i:]
	}
	return name + ".ksplice"
}

func (g *gen) label(s *elfdiff.Section) string {
	if l, ok := g.labels[s]; ok {
		return l
	}
	l := fmt.Sprintf("ksplice_n%d", g.nlabel)
	g.nlabel++
	g.labels[s] = l
	return l
}

// section emits one carried section: its bytes under its label, and its
// relocations.
func (g *gen) section(o Object, s *elfdiff.Section) error {
	if payloadSections[s.Name] {
		return g.payload(o, s)
	}
	lbl := g.labels[s]
	flags := "a"
	typ := "%progbits"
	switch {
	case s.Flags&elf.SHF_EXECINSTR != 0:
		flags = "ax"
	case s.Writable():
		flags = "aw"
	}
	if s.Type == elf.SHT_NOBITS {
		typ = "%nobits"
	}
	align := s.Addralign
	if align == 0 {
		align = 1
	}
	fmt.Fprintf(&g.asm, "\n/* %s %s */\n", o.Rel, s.Name)
	fmt.Fprintf(&g.asm, "\t.section .ksplice%s.%s,\"%s\",%s\n\t.balign %d\n", sectionPrefix(s), lbl, flags, typ, align)
	fmt.Fprintf(&g.asm, "\t.globl %s\n", lbl)
	if s.Flags&elf.SHF_EXECINSTR != 0 {
		fmt.Fprintf(&g.asm, "\t.type %s, @function\n", lbl)
	} else {
		fmt.Fprintf(&g.asm, "\t.type %s, @object\n", lbl)
	}
	fmt.Fprintf(&g.asm, "%s:\n", lbl)
	nopped := map[uint64]bool{} // section offsets of relocations a NOP replaced
	if s.Type == elf.SHT_NOBITS {
		fmt.Fprintf(&g.asm, "\t.zero %d\n", s.Size)
	} else {
		writeBytes(&g.asm, jumpLabelHack(o.Result.Post, s, nopped))
	}
	fmt.Fprintf(&g.asm, "\t.size %s, .-%s\n", lbl, lbl)
	g.alias(o, s, lbl)
	// The relocations: per function and data object, whose relocations
	// elfdiff resolved to targets; a literal pool has none.
	covered := 0
	for _, f := range o.Result.Post.Functions {
		if f.Section == s {
			covered += len(f.Relocs)
			for _, r := range f.Relocs {
				if nopped[f.Offset+r.Offset] {
					continue
				}
				if err := g.reloc(o, f.Name, fmt.Sprintf("%s+%#x", lbl, f.Offset+r.Offset), r, f.Code); err != nil {
					return err
				}
			}
		}
	}
	for _, d := range o.Result.Post.Objects {
		if d.Section == s {
			covered += len(d.Relocs)
			for _, r := range d.Relocs {
				if err := g.reloc(o, d.Name, fmt.Sprintf("%s+%#x", lbl, d.Offset+r.Offset), r, nil); err != nil {
					return err
				}
			}
		}
	}
	if covered == 0 && len(s.Defs) == 0 {
		// Anonymous data (a jump table): its relocations are its own.
		for _, r := range o.Result.Post.SectionRelocs(s) {
			if err := g.reloc(o, "", fmt.Sprintf("%s+%#x", lbl, r.Offset), r, nil); err != nil {
				return err
			}
			covered++
		}
	}
	if covered != len(s.Relocs) {
		return fmt.Errorf("%w: %s has %d relocations outside its functions and objects", ErrUnsupported, s.Name, len(s.Relocs)-covered)
	}
	return nil
}

// sectionPrefix keeps a hint of the original section in the new one's name
// (".text", ".rodata"), which the kernel's module loader looks at to place
// sections.
func sectionPrefix(s *elfdiff.Section) string {
	switch {
	case s.Flags&elf.SHF_EXECINSTR != 0:
		return ".text"
	case s.Type == elf.SHT_NOBITS:
		return ".bss"
	case s.Writable():
		return ".data"
	default:
		return ".rodata"
	}
}

func writeBytes(w io.Writer, b []byte) {
	for i := 0; i < len(b); i += 16 {
		end := min(i+16, len(b))
		fmt.Fprint(w, "\t.byte ")
		for j := i; j < end; j++ {
			if j > i {
				fmt.Fprint(w, ",")
			}
			fmt.Fprintf(w, "%#02x", b[j])
		}
		fmt.Fprintln(w)
	}
}

// reloc emits one relocation of carried code or data at place. A target in
// a carried section becomes a label; an exported symbol is left to the
// module loader; anything else (static functions and data of the running
// kernel, unexported globals) is resolved by the engine, from run-pre
// matching where an old function refers to it, else from kallsyms. from
// names the carried function or object that holds place ("" for anonymous
// data).
func (g *gen) reloc(o Object, from, place string, r elfdiff.Reloc, code []byte) error {
	if done, err := g.publishes(o, from, place, r, code); done || err != nil {
		return err
	}
	return g.relocIn(o, place, r, code, true)
}

// publishes handles a reference of carried code or data that takes an
// address (anything but a call or jump) of something the update carries:
// an address that the new code may publish (a work item's or timer's
// function, an RCU callback, an f_op table), which then outlives the
// update's undo.
//
// The address of a function the update replaces is taken as the running
// kernel's original function (an engine relocation bound to its run-pre
// matched entry): calls through it enter the old function, whose ftrace
// site sends them to the newest replacement while the update is applied
// and into the old code after undo, so nothing published points into the
// update module. It reports done then.
//
// The address of a function that only the update module has (a new one, a
// .cold or through-callers piece), or of carried data that is writable or
// holds addresses of its own (a struct work_struct, an f_op table), cannot
// be taken elsewhere: the update is marked to keep its module after undo
// (g.keep, KSPLICE_UPDATE_KEEP_MODULE); reading or writing such data in
// place (a new counter incremented) is not taking its address
// (accessOnly). Read-only data without relocations
// (string literals, __func__, constants) is not counted, nor anonymous
// read-only data (jump tables) or a function's addresses of its own
// instructions (_THIS_IP_): their addresses are not function pointers or
// objects that the kernel links into its lists (see docs/kernel-interface.md,
// "Safety rules").
func (g *gen) publishes(o Object, from, place string, r elfdiff.Reloc, code []byte) (bool, error) {
	if r.Info.Kind == 0 || r.Sym == nil || r.Sym.Section == nil {
		return false, nil
	}
	if _, ok := g.labels[r.Sym.Section]; !ok {
		return false, nil
	}
	if code != nil && o.Result.Post.Arch.BranchField(code, int(r.Offset), r.Info.Kind) {
		return false, nil
	}
	if from == "" {
		from = "anonymous data"
	}
	t := r.Target.Sym
	if fn := t.Function(); fn != nil && g.carriedFn[fn] && r.Target.Off == 0 {
		if i, ok := g.replacedOf[fn]; ok {
			_, addend := runningTarget(r, g.preNames)
			g.newRelocs = append(g.newRelocs, newReloc{place: place, typ: r.Type, symbol: g.replaced[i].name, addend: addend, oldFunc: i})
			return true, nil
		}
		g.keepFor(fmt.Sprintf("%s: %s takes the address of %s, which only the update module has", o.Rel, from, fn.Name))
		return false, nil
	}
	if accessOnly(o.Result.Post.Arch, code, r) {
		return false, nil
	}
	if d := t.Object(); d != nil && sectionOf(o.Result.Post, d.Section) && (d.Section.Writable() || len(d.Relocs) > 0) {
		g.keepFor(fmt.Sprintf("%s: %s takes the address of %s, data only the update module has", o.Rel, from, d.Name))
	} else if t != nil && t.Type == elf.STT_SECTION && t.Section.Writable() && !t.Section.Init() {
		g.keepFor(fmt.Sprintf("%s: %s takes the address of writable data in %s, which only the update module has", o.Rel, from, t.Section.Name))
	}
	return false, nil
}

// accessOnly reports whether r, in code, only reads or writes the data at
// its target rather than computing its address into a register or into
// memory: "counter++" publishes nothing. x86-64: a RIP-relative operand of
// any instruction but lea (8d); arm64: the page of an adrp (the add or the
// load/store of its pair decides) and the low 12 bits of a load or store.
// An absolute address in code (mov $sym), an add of the low 12 bits, and
// every reference from data count as taking the address.
func accessOnly(a *arch.Arch, code []byte, r elfdiff.Reloc) bool {
	if code == nil {
		return false
	}
	name := a.RelocName(r.Type)
	switch {
	case name == "R_X86_64_PC32":
		return r.Offset >= 2 && int(r.Offset) <= len(code) && code[r.Offset-2] != 0x8d
	case strings.HasPrefix(name, "R_AARCH64_ADR_PREL_PG_HI21"):
		return true
	case strings.HasPrefix(name, "R_AARCH64_LDST") && strings.HasSuffix(name, "_ABS_LO12_NC"):
		return true
	}
	return false
}

func (g *gen) keepFor(reason string) {
	for _, k := range g.keep {
		if k == reason {
			return
		}
	}
	g.keep = append(g.keep, reason)
}

// relocIn is reloc; engine says whether the engine may resolve it. Special
// sections are processed by the module loader before the engine could
// write anything into them, so their relocations must be the loader's.
func (g *gen) relocIn(o Object, place string, r elfdiff.Reloc, code []byte, engine bool) error {
	if r.Info.Kind == 0 { // R_*_NONE: nothing to do, the bytes are code.
		return nil
	}
	name := o.Result.Post.Arch.RelocName(r.Type)
	if r.Sym == nil {
		return fmt.Errorf("%w: %s relocation at %s has no symbol", ErrUnsupported, name, place)
	}
	if g.entryReloc(o, place, r) {
		return nil
	}
	if r.Sym.Section != nil {
		if lbl, ok := g.labels[r.Sym.Section]; ok {
			fmt.Fprintf(&g.asm, "\t.reloc %s, %s, %s%+d\n", place, name, lbl, int64(symValue(r.Sym))+r.Addend)
			return nil
		}
	}
	// A function another object of the update adds: not in the running
	// kernel, so neither kallsyms nor the loader has it; the update's
	// copy is the only one.
	if fn, ok := g.newGlobals[r.Sym.Name]; ok && r.Sym.Section == nil && r.Sym.Name != "" {
		fmt.Fprintf(&g.asm, "\t.reloc %s, %s, %s%+d\n", place, name, g.label(fn.Section), int64(fn.Offset)+r.Addend)
		return nil
	}
	// An exported symbol, whether the object only uses it or defines it
	// (a global of the patched file that it exports, or that its module
	// exports): the module loader binds the running kernel's.
	if (r.Sym.Section == nil || r.Sym.Bind == elf.STB_GLOBAL) && r.Sym.Name != "" && g.in.Exported(r.Sym.Name) && !staticCall(r.Sym.Name) {
		fmt.Fprintf(&g.asm, "\t.reloc %s, %s, %s%+d\n", place, name, r.Sym.Name, r.Addend)
		return nil
	}
	// The engine resolves it: by the running kernel's name of the target.
	sym, addend := runningTarget(r, g.preNames)
	if !engine {
		return fmt.Errorf("%w: it refers to %s, which is not exported: the module loader processes the entry at load time, before ksplice could resolve it", ErrUnsupported, sym)
	}
	if sym == "" {
		return fmt.Errorf("%w: relocation %s at %s to %s: no name the running kernel knows", ErrUnsupported, name, place, describe(r))
	}
	if strings.HasPrefix(sym, ".") {
		return fmt.Errorf("%w: relocation %s at %s refers to unnamed data %s of the running kernel", ErrUnsupported, name, place, sym)
	}
	a := o.Result.Post.Arch
	if code != nil && a.BranchVeneer != nil && a.BranchField(code, int(r.Offset), r.Info.Kind) {
		// The target may lie beyond the branch's reach: the call goes
		// to a veneer of the update module, whose 64-bit literal the
		// engine writes.
		b, err := g.bindOld(o, r, sym)
		if err != nil {
			return err
		}
		v := g.veneer(a, newReloc{typ: a.Abs64, symbol: b.symbol, addend: addend + b.delta, oldFunc: b.old})
		fmt.Fprintf(&g.asm, "\t.reloc %s, %s, %s\n", place, name, v)
		return nil
	}
	b, err := g.bindOld(o, r, sym)
	if err != nil {
		return err
	}
	g.newRelocs = append(g.newRelocs, newReloc{place: place, typ: r.Type, symbol: b.symbol, addend: addend + b.delta, oldFunc: b.old})
	if code != nil && a.BranchField(code, int(r.Offset), r.Info.Kind) {
		// The engine writes the real target before the code can run;
		// until then the call goes to a trap of our own, so that objtool,
		// checking new.S, sees a call to a function rather than into
		// the middle of the caller.
		g.placeholder = true
		fmt.Fprintf(&g.asm, "\t.reloc %s, %s, ksplice_placeholder%+d\n", place, name, r.Addend)
	}
	return nil
}

// veneer returns the label of a veneer of the update module that jumps to
// the target of r, emitting it (and r, placed at its literal) the first
// time that target is asked for.
func (g *gen) veneer(a *arch.Arch, r newReloc) string {
	key := fmt.Sprintf("%s%+d@%d", r.symbol, r.addend, r.oldFunc)
	if l, ok := g.veneers[key]; ok {
		return l
	}
	l := fmt.Sprintf("ksplice_v%d", len(g.veneerLabels))
	if g.veneers == nil {
		g.veneers = map[string]string{}
	}
	g.veneers[key] = l
	g.veneerLabels = append(g.veneerLabels, l)
	fmt.Fprintf(&g.asm, "\t.pushsection .ksplice.text.veneer,\"ax\",%%progbits\n\t.balign 8\n\t.globl %s\n\t.type %s, @function\n%s:\n", l, l, l)
	writeBytes(&g.asm, a.BranchVeneer)
	fmt.Fprintf(&g.asm, "\t.quad 0 /* %s%+d, written by the engine */\n\t.size %s, .-%s\n\t.popsection\n", r.symbol, r.addend, l, l)
	r.place = fmt.Sprintf("%s+%#x", l, len(a.BranchVeneer))
	g.newRelocs = append(g.newRelocs, r)
	return l
}

func symValue(s *elfdiff.Symbol) uint64 {
	if s.Type == elf.STT_SECTION {
		return 0
	}
	return s.Value
}

func describe(r elfdiff.Reloc) string {
	if r.Sym == nil {
		return "?"
	}
	return fmt.Sprintf("%s%+d", r.Sym.Name, r.Addend)
}

// oldUser returns the index of a replaced function whose old code refers
// to sym, so that the engine takes sym's address from run-pre matching,
// which tells same-named statics apart; -1 when none does. A symbol local
// to its object (a static, a section) binds only through the old code of
// the same object, obj: another object's "lock" is another lock. A global
// is one symbol whichever object's old code refers to it; the same
// object's is preferred all the same.
func (g *gen) oldUser(sym, obj string, local bool) int {
	other := -1
	for i, rf := range g.replaced {
		for _, r := range rf.relocs {
			if r.symbol != sym {
				continue
			}
			if rf.obj == obj {
				return i
			}
			if !local && other < 0 {
				other = i
			}
		}
	}
	return other
}

// bindOld returns the index in g.replaced of the old code the engine
// takes the address of sym (r's target, named as the running kernel names
// it) from, or -1 for kallsyms. A static that no replaced function's old
// code refers to is bound through a helper: an unchanged function of the
// same object that is the static, or whose old code refers to it, matched
// by run-pre and never replaced (Ksplice's way with statics that have
// namesakes: 3 notsupp_get_next_key in Debian's 6.1). Globals are unique
// in kallsyms and need none.
//
// The engine may have to take sym's address relative to another symbol's
// (see sectionRelative): the binding names the symbol it reads and the
// offset to add to the address it finds.
func (g *gen) bindOld(o Object, r elfdiff.Reloc, sym string) (binding, error) {
	if staticCall(sym) {
		// Run-pre matching deduces nothing from a static call site
		// (the kernel rewrites it at run time); a trampoline is a
		// global function, unique in kallsyms.
		return binding{old: -1, symbol: sym}, nil
	}
	if err := clonesAgree(o, r, sym); err != nil {
		return binding{}, err
	}
	if res := o.Result; res.Running != nil && localTarget(r) && strings.Contains(sym, ".") && !strings.HasPrefix(sym, ".") {
		if def := res.RunningDefinition(sym); def != nil && !sameNumbering(res, sym, def) {
			stem, _, _ := strings.Cut(sym, ".")
			return binding{}, fmt.Errorf("%w: the new code refers to %s, and the kernel's own build of the object numbers its %s.* names differently from ksplice's: the running %s may be another one", ErrUnsupported, sym, stem, sym)
		}
	}
	local := localTarget(r)
	if i := g.oldUser(sym, o.Rel, local); i >= 0 {
		return binding{old: i, symbol: sym}, nil
	}
	// A global the object defines binds like its statics when it can:
	// arm64's kallsyms has no data symbols (Debian builds without
	// KALLSYMS_ALL).
	if b, ok := g.sectionRelative(o, sym); ok {
		return b, nil
	}
	if !local {
		return binding{old: -1, symbol: sym}, nil
	}
	i, err := g.helperFor(o, r, sym)
	return binding{old: i, symbol: sym}, err
}

// clonesAgree refuses a reference of the new code to a function the
// compiler cloned (foo.isra.0, foo.constprop.1, foo.part.0: a signature of
// the compiler's own making) when the object's two pre-patch builds, with
// section flags and with the kernel's own flags, do not have the same
// functions: the compiler then decided inlining and cloning differently,
// and the running kernel's clone of that name may not take the arguments
// the new code passes.
func clonesAgree(o Object, r elfdiff.Reloc, sym string) error {
	res := o.Result
	if res.Running == nil || r.Target.Sym.Function() == nil {
		return nil
	}
	if !strings.Contains(sym, ".isra.") && !strings.Contains(sym, ".constprop.") && !strings.Contains(sym, ".part.") {
		return nil
	}
	if len(res.RunningMissing) == 0 && len(res.RunningOnly()) == 0 {
		return nil
	}
	return fmt.Errorf("%w: the new code calls %s, a function the compiler cloned, and the kernel's own build of the object inlines or clones differently from ksplice's (only in ksplice's: %s; only in the kernel's: %s): the running %s may take other arguments",
		ErrUnsupported, sym, strings.Join(res.RunningMissing, ", "), strings.Join(res.RunningOnly(), ", "), sym)
}

// binding is where the engine takes a symbol's address from: what run-pre
// deduced for symbol in the old code of g.replaced[old] (or kallsyms, old
// -1), plus delta.
type binding struct {
	old    int
	symbol string
	delta  int64
}

// sectionRelative binds sym, which no old code names, through a symbol
// that old code of its object does name in the same section of the object
// the old code comes from (the kernel's own build): the kernel links an
// object's section whole, so their distance in the object is their
// distance in the running kernel. This is how references through gcc's
// section anchors bind (arm64: the old code reaches a file's statics as
// .bss+A plus an offset, and the anchor resolves to whichever object lies
// at A, not to the static the new code names), and calls to a static
// function of the same .text, which the assembler resolves without a
// relocation (bound to the matched function's own address). Only
// deductions the engine always makes count (see deduces); the replaced
// functions come first, then helpers, in order.
func (g *gen) sectionRelative(o Object, sym string) (binding, bool) {
	def := o.Result.RunningDefinition(sym)
	if def == nil || def.Section.Init() || def.Section.Flags&elf.SHF_MERGE != 0 || !sameNumbering(o.Result, sym, def) {
		return binding{}, false
	}
	for _, helpers := range []bool{false, true} {
		for i, rf := range g.replaced {
			if rf.obj != o.Rel || rf.helper != helpers {
				continue
			}
			if rf.old.Section == def.Section {
				return binding{old: i, symbol: rf.name, delta: int64(def.Value) - int64(rf.old.Offset)}, true
			}
			for _, r := range rf.relocs {
				if r.sec == def.Section && r.deduces {
					return binding{old: i, symbol: r.symbol, delta: int64(def.Value) - int64(r.at)}, true
				}
			}
		}
	}
	return binding{}, false
}

// sameNumbering reports whether sym, a name of the pre object, names the
// same thing in the running object (def): a name the compiler numbered
// (a function's static __warned.3, a clone foo.isra.0) only when both
// objects have the same numbered names of that stem, of the same types
// and (data) sizes, so that numbering cannot have shifted between the two
// builds; any other name is the file's own.
func sameNumbering(res *elfdiff.Result, sym string, def *elfdiff.Symbol) bool {
	stem, _, numbered := strings.Cut(sym, ".")
	if !numbered {
		return true
	}
	shapes := func(f *elfdiff.File) map[string]string {
		out := map[string]string{}
		for _, s := range f.Symbols[1:] {
			if s.Section == nil || (s.Type != elf.STT_FUNC && s.Type != elf.STT_OBJECT) || !strings.HasPrefix(s.Name, stem+".") {
				continue
			}
			size := s.Size
			if s.Type == elf.STT_FUNC {
				size = 0 // code differs between the builds
			}
			out[s.Name] += fmt.Sprintf("%v/%d;", s.Type, size)
		}
		return out
	}
	pre, run := shapes(res.Pre), shapes(res.Running)
	if len(pre) != len(run) {
		return false
	}
	for n, v := range pre {
		if run[n] != v {
			return false
		}
	}
	return true
}

// deduces reports whether the engine deduces an address from rel, one of
// relocs: on arm64 an adrp (or a :lo12: field) deduces only with its pair,
// a :lo12: (or an adrp) relocation against the same symbol and addend.
func deduces(a *arch.Arch, relocs []elfdiff.Reloc, rel elfdiff.Reloc) bool {
	page := func(r elfdiff.Reloc) bool {
		return strings.HasPrefix(a.RelocName(r.Type), "R_AARCH64_ADR_PREL_PG_HI21")
	}
	low := func(r elfdiff.Reloc) bool {
		n := a.RelocName(r.Type)
		return strings.HasPrefix(n, "R_AARCH64_") && strings.HasSuffix(n, "_ABS_LO12_NC")
	}
	var partner func(elfdiff.Reloc) bool
	switch {
	case page(rel):
		partner = low
	case low(rel):
		partner = page
	default:
		return true
	}
	for _, r := range relocs {
		if partner(r) && r.Sym == rel.Sym && r.Addend == rel.Addend {
			return true
		}
	}
	return false
}

// helperFor finds or adds the helper that binds sym (see bindOld): the
// function sym itself when it is one of the object's, else the smallest
// function of the pre object whose code refers to sym; -1 when there is
// none.
func (g *gen) helperFor(o Object, r elfdiff.Reloc, sym string) (int, error) {
	res := o.Result
	var pick *elfdiff.Function
	if fn := r.Target.Sym.Function(); fn != nil {
		for _, fd := range res.Functions {
			if fd.Post == fn && fd.Pre != nil && !fd.Carry {
				pick, _ = res.OldCode(fd)
			}
		}
	}
	// The old code comes from the running object when there is one.
	from := res.Pre
	if res.Running != nil {
		from = res.Running
	}
	if pick == nil {
		for _, f := range from.Functions {
			if f.Section.Init() || pick != nil && f.Size >= pick.Size {
				continue
			}
			for _, rel := range f.Relocs {
				if name, _ := runningTarget(rel, nil); name == sym && rel.Info.Kind != 0 {
					pick = f
					break
				}
			}
		}
	}
	if pick == nil || pick.Section.Init() {
		return -1, nil
	}
	for i, rf := range g.replaced {
		if rf.old == pick {
			return i, nil
		}
	}
	h, err := g.oldFunc(res.Pre.Arch, pick, "")
	if err != nil {
		return -1, fmt.Errorf("helper %s: %w", pick.Name, err)
	}
	h.obj, h.helper = o.Rel, true
	g.replaced = append(g.replaced, h)
	return len(g.replaced) - 1, nil
}

// staticCall reports whether sym is a static call trampoline (x86-64:
// static_call(), and so every tracepoint call, calls __SCT__NAME). New code
// calls the trampoline, which always goes where the static call does, and
// never through the module loader: objtool would record the call as a
// static call site of the update module (.static_call_sites) keyed on the
// trampoline, which static_call_add_module() refuses unless the key was
// exported with EXPORT_STATIC_CALL_TRAMP.
func staticCall(sym string) bool {
	return strings.HasPrefix(sym, "__SCT__")
}

// localTarget reports whether r's target is local to its object: a static
// function or object, or a section.
func localTarget(r elfdiff.Reloc) bool {
	t := r.Target.Sym
	return t == nil || t.Bind == elf.STB_LOCAL || t.Type == elf.STT_SECTION
}

// oldFunc builds the run-pre matching data of a replaced function.
func (g *gen) oldFunc(a *arch.Arch, f *elfdiff.Function, newFunc string) (replaced, error) {
	r := replaced{name: f.Name, old: f, label: newFunc}
	for _, rel := range f.Relocs {
		if rel.Info.Kind == 0 {
			continue
		}
		sym, addend := runningTarget(rel, nil)
		if sym == "" {
			return r, fmt.Errorf("%w: old code of %s: relocation at +%#x has no target", ErrUnsupported, f.Name, rel.Offset)
		}
		or := oldReloc{off: rel.Offset, typ: rel.Type, symbol: sym, addend: addend, deduces: deduces(a, f.Relocs, rel)}
		if t := rel.Target.Sym; t.Section != nil && t.Section.Flags&elf.SHF_MERGE == 0 {
			or.sec, or.at = t.Section, symValue(t)
		}
		r.relocs = append(r.relocs, or)
	}
	for _, e := range f.Entries {
		switch e.Special.Name {
		case "__jump_table":
			s, err := jumpSite(a, f, e)
			if err != nil {
				return r, err
			}
			r.sites = append(r.sites, s)
		case ".altinstructions", ".parainstructions":
			s, err := altSite(f, e)
			if err != nil {
				return r, err
			}
			r.sites = append(r.sites, s)
		}
	}
	r.sites = mergeSites(r.sites)
	return r, r.validate()
}

// runningTarget names a relocation's target as the running kernel knows
// it: the containing function or object, by its pre-patch name when
// preNames maps a post-patch symbol to one (the old code's symbols are
// pre-patch already), or the section for anonymous data; the addend is
// rebased to that target.
func runningTarget(r elfdiff.Reloc, preNames map[*elfdiff.Symbol]string) (string, int64) {
	t := r.Target.Sym
	if t == nil {
		return "", 0
	}
	addend := r.Addend
	if t != r.Sym {
		addend += int64(symValue(r.Sym)) - int64(symValue(t))
	}
	if t.Type == elf.STT_SECTION && t.Section != nil {
		if t.Section.Flags&elf.SHF_MERGE != 0 {
			// The linker merges these pools across objects: in the
			// running kernel the constants keep no offsets relative to
			// each other, so each is a symbol of its own.
			return fmt.Sprintf("%s+%#x", t.Section.Name, r.Target.Off), r.Addend - r.Target.Off
		}
		return t.Section.Name, addend
	}
	if pre, ok := preNames[t]; ok {
		return pre, addend
	}
	return t.Name, addend
}

// ReadSymverNamespaces reads the namespaces of a Module.symvers file's
// exports: symbol -> namespace, for the symbols that have one.
func ReadSymverNamespaces(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ns := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) >= 5 && fields[4] != "" {
			ns[fields[1]] = fields[4]
		}
	}
	return ns, sc.Err()
}

// ReadSymvers reads a Module.symvers file into a set of exported symbols.
func ReadSymvers(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	set := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) >= 2 {
			set[fields[1]] = true
		}
	}
	return set, sc.Err()
}

// authoredHooks reports whether the patched source declares hooks
// (author macros), which call the update's new code.
func authoredHooks(in Input) bool {
	for _, o := range in.Objects {
		if a := o.Result.Authored; a != nil && len(a.Hooks) > 0 {
			return true
		}
	}
	return false
}

// unreachable describes an update of new functions only: which functions
// it would add, in which target, and which the patch removes that the
// running kernel keeps calling.
func unreachable(in Input) string {
	var added, removed []string
	for _, o := range in.Objects {
		for _, fd := range o.Result.Functions {
			switch {
			case fd.Status == elfdiff.StatusNew && fd.Carry:
				added = append(added, fd.Name)
			case fd.Status == elfdiff.StatusRemoved && fd.Pre != nil && fd.Pre.Sym.Bind == elf.STB_GLOBAL:
				removed = append(removed, fd.Name)
			}
		}
	}
	msg := fmt.Sprintf("in %s it only adds %s, which no running code calls", in.Target, strings.Join(added, ", "))
	if len(removed) > 0 {
		msg += fmt.Sprintf("; it removes %s, which the running kernel keeps, with its callers", strings.Join(removed, ", "))
	}
	return msg + ": change the callers of the new code in the same patch (a function renamed in one file needs its callers in the others)"
}

// x86 NOPs of the lengths a static branch has, as the kernel writes them.
var (
	x86Nop2 = []byte{0x66, 0x90}
	x86Nop5 = []byte{0x0f, 0x1f, 0x44, 0x00, 0x00}
)

// jumpLabelHack returns the bytes of the code section s with objtool's
// jump label rewrite done, and records in nopped the section offsets of
// the relocations it removed. With CONFIG_HAVE_JUMP_LABEL_HACK (x86-64),
// static_branch_unlikely() compiles to a jmp whose __jump_table entry marks
// its key with bit 1, and objtool turns each marked jmp into a NOP of its
// length: the kernel requires a NOP there before it enables the branch
// (__jump_label_patch() BUGs otherwise). Where Kbuild runs objtool on
// vmlinux.o only (x86 IBT, 6.12), the objects create compares still have
// the jmp; the update must carry the NOP the running kernel's copy has.
func jumpLabelHack(f *elfdiff.File, s *elfdiff.Section, nopped map[uint64]bool) []byte {
	if f.Arch.Name != "x86_64" || s.Flags&elf.SHF_EXECINSTR == 0 {
		return s.Data
	}
	data := s.Data
	copied := false
	for _, fn := range f.Functions {
		if fn.Section != s {
			continue
		}
		for _, e := range fn.Entries {
			if e.Special.Name != "__jump_table" || e.Anchor < 0 {
				continue
			}
			marked := false
			for _, r := range e.Relocs {
				marked = marked || r.Offset == jumpKeyOffset && r.Addend&2 != 0
			}
			at := fn.Offset + uint64(e.Anchor)
			if !marked || at >= uint64(len(data)) {
				continue
			}
			var nop []byte
			switch data[at] {
			case 0xe9:
				nop = x86Nop5
			case 0xeb:
				nop = x86Nop2
			default:
				continue // a NOP already: objtool ran on the object
			}
			if at+uint64(len(nop)) > uint64(len(data)) {
				continue
			}
			if !copied {
				data = append([]byte(nil), data...)
				copied = true
			}
			copy(data[at:], nop)
			for i := uint64(1); i < uint64(len(nop)); i++ {
				nopped[at+i] = true
			}
		}
	}
	return data
}
