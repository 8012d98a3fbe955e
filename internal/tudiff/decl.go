package tudiff

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
)

// info is what the comparison needs of a declaration.
type info struct {
	// defines are the file-scope names it declares: declarators, the
	// tags of the structures, unions and enums it defines, enumerators.
	defines []string
	// refs are the identifiers it uses, and the words of its string
	// literals (an asm body or an alias names symbols in a string).
	refs []string
	// root: it makes code or data by itself (a function that is not
	// inline, a variable, a pragma that changes what follows).
	root bool
	// inert: it makes nothing and says nothing another declaration
	// could use (";", _Static_assert, a tag's forward declaration).
	inert bool
	// aggregate is "struct NAME" or "union NAME" for a declaration that
	// only defines that type, whose users may see the same layout
	// after a change.
	aggregate string
	// nested are the tags and enumerators an aggregate's body defines
	// besides the aggregate (an anonymous enum's constants before its
	// member, netdevice.h's reg_state): they have file scope of their
	// own, and a change of the aggregate counts as one of each.
	nested []string
	// values are the values of the enumerators it defines (nested
	// ones too), as the text of the last initializer before each and
	// how many constants after it each comes: "0+2". Only for an enum
	// whose every initializer is an int literal (its constants are
	// ints, and the same text is the same value); none for another.
	values map[string]string
	// unknown: the names it declares could not be found.
	unknown bool
	// blockExtern: a function body declares something extern, which
	// means a file-scope declaration of that name if one is visible,
	// even one added after it.
	blockExtern bool
}

// keywords of GNU C that are never a declared name.
var keywords = setOf(
	"auto", "break", "case", "char", "const", "continue", "default", "do",
	"double", "else", "enum", "extern", "float", "for", "goto", "if",
	"inline", "int", "long", "register", "restrict", "return", "short",
	"signed", "sizeof", "static", "struct", "switch", "typedef", "union",
	"unsigned", "void", "volatile", "while", "_Alignas", "_Alignof",
	"_Atomic", "_Bool", "_Complex", "_Generic", "_Imaginary", "_Noreturn",
	"_Static_assert", "_Thread_local", "static_assert", "typeof",
	"__typeof__", "__typeof", "__attribute__", "__attribute", "asm",
	"__asm__", "__asm", "__inline__", "__inline", "__volatile__",
	"__volatile", "__const__", "__const", "__signed__", "__signed",
	"__restrict__", "__restrict", "__extension__", "__label__",
	"__auto_type", "__int128", "__thread", "__alignof__", "__alignof",
	"_Float16", "_Float32", "_Float64", "_Float128", "__float128",
	"__seg_gs", "__seg_fs", "__builtin_offsetof", "__builtin_va_arg",
	"__builtin_types_compatible_p", "__real__", "__imag__", "__complex__",
)

// builtinTypes are type names the compiler knows without a typedef.
var builtinTypes = setOf("__builtin_va_list", "__int128_t", "__uint128_t",
	"_Float32x", "_Float64x", "_Float128x", "_Decimal32", "_Decimal64",
	"_Decimal128", "__fp16", "__bf16", "__float80", "__ibm128")

// groupWords are followed by a parenthesised group that holds no
// declarator (attributes, asm labels, typeof, alignment, assertions).
var groupWords = setOf(
	"__attribute__", "__attribute", "asm", "__asm__", "__asm", "typeof",
	"__typeof__", "__typeof", "_Alignas", "__alignof__", "__alignof",
	"_Alignof", "sizeof", "_Static_assert", "static_assert",
	"__builtin_offsetof",
)

// emitWords in an attribute make even an inline function's or a
// declaration's symbol be emitted.
var emitWords = setOf(
	"used", "__used__", "constructor", "__constructor__", "destructor",
	"__destructor__", "alias", "__alias__", "externally_visible",
	"__externally_visible__",
)

func setOf(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// FNV-1a, 64 bits.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// literalWords are the identifier-like words of a literal's text.
func literalWords(s string) []string {
	var out []string
	for i := 0; i < len(s); {
		if !isIdentStart(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isIdent(s[j]) {
			j++
		}
		out = append(out, s[i:j])
		i = j
	}
	return out
}

// wordTable tells which identifiers a declaration has used already: one
// map lookup a token, the unit's identifiers numbered once.
type wordTable struct {
	index map[string]int32
	gens  []int32 // by index: the declaration that last used it; -1 for a keyword
	gen   int32   // the declaration being finished
}

func newWordTable() *wordTable {
	w := &wordTable{index: make(map[string]int32, 1<<14)}
	for k := range keywords {
		w.index[k] = int32(len(w.gens))
		w.gens = append(w.gens, -1)
	}
	return w
}

// first reports whether the declaration being finished uses name for the
// first time, and name is not a keyword.
func (w *wordTable) first(name string) bool {
	i, ok := w.index[name]
	if !ok {
		i = int32(len(w.gens))
		w.index[name] = i
		w.gens = append(w.gens, w.gen)
		return true
	}
	if g := w.gens[i]; g == w.gen || g < 0 {
		return false
	}
	w.gens[i] = w.gen
	return true
}

// finish fills in d's text and info. bodyAt is the index of the { of a
// function definition's body, or -1. Typedef names declared here are
// added to typedefs, which the declarations that follow need to tell a
// type name from a declared one.
func (d *Decl) finish(bodyAt int, typedefs map[string]bool, words *wordTable) {
	// The hash of the tokens joined by spaces (Text, made when asked).
	h := uint64(fnvOffset)
	for i, t := range d.toks {
		if i > 0 {
			h = (h ^ ' ') * fnvPrime
		}
		for j := 0; j < len(t.text); j++ {
			h = (h ^ uint64(t.text[j])) * fnvPrime
		}
		switch t.kind {
		case kIdent:
			if t.text == "extern" && bodyAt >= 0 && i > bodyAt {
				d.blockExtern = true
			}
			if words.first(t.text) {
				d.refs = append(d.refs, t.text)
				// __builtin_memcpy may become a call of memcpy,
				// whose declaration says how.
				if lib, ok := strings.CutPrefix(t.text, "__builtin_"); ok && words.first(lib) {
					d.refs = append(d.refs, lib)
				}
			}
		case kString, kPragma:
			for _, w := range literalWords(t.text) {
				if words.first(w) {
					d.refs = append(d.refs, w)
				}
			}
		}
	}
	d.hash = h

	toks := d.toks
	if toks[len(toks)-1].text == ";" && bodyAt < 0 {
		toks = toks[:len(toks)-1]
	}
	switch {
	case len(toks) == 0:
		d.inert = true
		return
	case toks[0].kind == kPragma:
		d.root = !strings.HasPrefix(toks[0].text, "#pragma GCC diagnostic")
		return
	case toks[0].text == "_Static_assert" || toks[0].text == "static_assert":
		d.inert = true
		return
	case toks[0].text == "asm" || toks[0].text == "__asm__" || toks[0].text == "__asm":
		d.root = true // a top-level asm statement
		return
	}
	head := toks
	if bodyAt >= 0 {
		head = toks[:bodyAt]
	}
	w := walker{toks: head, typedefs: typedefs}
	w.walk()
	d.defines = append(append(append(d.defines, w.names...), w.tags...), w.enumerators...)
	d.values = w.values
	forces := false
	for _, t := range head {
		if t.kind == kIdent && emitWords[t.text] {
			forces = true
		}
	}
	switch {
	case bodyAt >= 0:
		// A function: inline ones are emitted only where used.
		d.unknown = len(w.names) == 0
		// static inline is emitted only where used, and extern
		// inline only with gnu_inline (the kernel's inline);
		// C99's extern inline is an external definition.
		gnu := false
		for _, t := range head {
			if t.text == "__gnu_inline__" || t.text == "gnu_inline" {
				gnu = true
			}
		}
		d.root = !(w.inline && (w.static || w.extern && gnu) && !forces)
	case w.typedef:
		d.unknown = len(w.names) == 0
		for _, n := range w.names {
			typedefs[n] = true
		}
	case len(w.names) == 0:
		// Only types: a definition, a forward declaration, an
		// anonymous enum's constants.
		switch {
		case len(head) == 2 && w.tagKeyword(head[0].text) && head[1].kind == kIdent:
			d.inert = true // struct foo;
		case w.aggregateOnly && len(w.tags) >= 1 && head[0].text != "enum":
			d.aggregate = head[0].text + " " + w.tags[0]
			d.nested = append(append(d.nested, w.tags[1:]...), w.enumerators...)
		case len(w.tags) == 0 && len(w.enumerators) == 0:
			d.unknown = true
		}
	default:
		// Variables are emitted; prototypes and extern
		// declarations are not.
		d.root = forces || w.initialized || !w.extern && w.objects > 0
	}
	if w.lost {
		d.unknown = true
	}
}

// walker finds the names a declaration's head (all of it but a function's
// body) declares.
type walker struct {
	toks     []token
	i        int
	typedefs map[string]bool

	names, tags, enumerators []string
	values                   map[string]string // see info.values

	typedef, static, extern, inline bool
	initialized                     bool // a declarator has an initializer
	objects                         int  // declarators that are not functions
	// aggregateOnly: the head is a struct or union keyword, maybe
	// attributes, a tag and a body, and nothing else.
	aggregateOnly bool
	lost          bool // something it could not follow
}

func (w *walker) tagKeyword(s string) bool {
	return s == "struct" || s == "union" || s == "enum"
}

func (w *walker) peek() string {
	if w.i < len(w.toks) {
		return w.toks[w.i].text
	}
	return ""
}

// skipBalanced skips the bracketed group starting at w.i.
func (w *walker) skipBalanced() {
	depth := 0
	for ; w.i < len(w.toks); w.i++ {
		switch w.toks[w.i].text {
		case "(", "[", "{":
			depth++
		case ")", "]", "}":
			depth--
			if depth == 0 {
				w.i++
				return
			}
		}
	}
	w.lost = true
}

// skipGroups skips attribute and asm groups at w.i.
func (w *walker) skipGroups() {
	for w.i < len(w.toks) && groupWords[w.toks[w.i].text] {
		word := w.toks[w.i].text
		w.i++
		if w.peek() == "volatile" || w.peek() == "__volatile__" || w.peek() == "goto" {
			w.i++
		}
		if w.peek() == "(" {
			// typeof, sizeof and the like may define a tag or
			// enumerators of file scope: (struct s { ... }).
			if !skipGroup[word] {
				w.body("", w.i+1, w.matching(w.i))
			}
			w.skipBalanced()
		}
	}
}

// nextSignificant is the token after w.i's, past attribute and asm
// groups, without moving.
func (w *walker) nextSignificant() string {
	save := w.i
	w.i++
	w.skipGroups()
	s := w.peek()
	w.i = save
	return s
}

func (w *walker) walk() {
	w.aggregateOnly = len(w.toks) > 0 && (w.toks[0].text == "struct" || w.toks[0].text == "union")
	prev := ""        // the previous significant token
	prevName := false // prev is a declared name
	depth := 0        // grouping parentheses of a declarator
	for w.i < len(w.toks) {
		t := w.toks[w.i]
		switch {
		case groupWords[t.text]:
			w.skipGroups()
			continue
		case w.tagKeyword(t.text):
			w.tagSpecifier()
			prev, prevName = "}", false
			continue
		case t.kind == kIdent && keywords[t.text]:
			switch t.text {
			case "typedef":
				w.typedef = true
			case "static":
				w.static = true
			case "extern":
				w.extern = true
			case "inline", "__inline", "__inline__":
				w.inline = true
			}
			w.aggregateOnly = false
			prev, prevName = t.text, false
			w.i++
			continue
		case t.kind == kIdent:
			w.aggregateOnly = false
			next := w.nextSignificant()
			isName := false
			switch next {
			case ";", ",", "=", "[", ")", ":", "":
				isName = true
			case "(":
				isName = !w.typedefs[t.text]
			}
			if isName {
				w.names = append(w.names, t.text)
				if next != "(" {
					w.objects++
				}
			}
			prev, prevName = t.text, isName
			w.i++
			continue
		}
		w.aggregateOnly = false
		switch t.text {
		case "(":
			if prevName || prev == ")" || prev == "]" {
				w.skipBalanced() // a parameter list
				prev, prevName = ")", false
				continue
			}
			depth++
		case ")":
			depth--
		case "[":
			w.skipBalanced()
			prev, prevName = "]", false
			continue
		case "=":
			w.initialized = true
			w.skipInitializer()
			prev, prevName = "=", false
			continue
		case "{":
			// Braces outside a type or an initializer: not a
			// declaration it knows.
			w.lost = true
			w.skipBalanced()
			continue
		}
		prev, prevName = t.text, false
		w.i++
	}
	if depth != 0 {
		w.lost = true
	}
}

// skipInitializer skips from an = to the , or end of its declarator.
func (w *walker) skipInitializer() {
	w.i++
	for w.i < len(w.toks) {
		switch w.toks[w.i].text {
		case "(", "[", "{":
			w.skipBalanced()
			continue
		case ",":
			return
		}
		w.i++
	}
}

// tagSpecifier reads "struct TAG { ... }" (or union, enum) at w.i: a tag
// with a body is defined, and so are the tags and enumerators defined in
// the body (they have file scope in C).
func (w *walker) tagSpecifier() {
	kw := w.toks[w.i].text
	w.i++
	w.skipGroups()
	tag := ""
	if w.i < len(w.toks) && w.toks[w.i].kind == kIdent && !keywords[w.toks[w.i].text] {
		tag = w.toks[w.i].text
		w.i++
	}
	w.skipGroups()
	if w.peek() != "{" {
		w.aggregateOnly = false
		return
	}
	if tag != "" {
		w.tags = append(w.tags, tag)
	}
	end := w.matching(w.i)
	w.body(kw, w.i+1, end)
	w.i = end + 1
	w.skipGroups()
	if w.i != len(w.toks) {
		w.aggregateOnly = false
	}
}

// matching is the index of the bracket closing the one at i.
func (w *walker) matching(i int) int {
	j, ok := closing(w.toks, i)
	if !ok {
		w.lost = true
	}
	return j
}

// body reads the members of a structure or the constants of an enum
// between from and to (exclusive).
func (w *walker) body(kw string, from, to int) {
	if kw == "enum" {
		// Each constant starts the body or follows a comma outside
		// its value's brackets.
		expect := true
		depth := 0
		for j := from; j < to; j++ {
			t := w.toks[j]
			switch t.text {
			case "(", "[", "{":
				depth++
			case ")", "]", "}":
				depth--
			case ",":
				if depth == 0 {
					expect = true
					continue
				}
			}
			if expect && depth == 0 && t.kind == kIdent {
				w.enumerators = append(w.enumerators, t.text)
				expect = false
			}
		}
		w.enumValues(from, to)
		return
	}
	for j := from; j < to; j++ {
		if w.tagKeyword(w.toks[j].text) {
			// A nested type: read as a specifier of its own.
			sub := walker{toks: w.toks[j:to], typedefs: w.typedefs}
			sub.tagSpecifier()
			w.tags = append(w.tags, sub.tags...)
			w.enumerators = append(w.enumerators, sub.enumerators...)
			if sub.values != nil {
				if w.values == nil {
					w.values = map[string]string{}
				}
				maps.Copy(w.values, sub.values)
			}
			w.lost = w.lost || sub.lost
			j += sub.i - 1
		}
	}
}

// enumValues fills in w.values from the constants of an enum between from
// and to (exclusive), if each is NAME or NAME = LITERAL (see info.values):
// an attribute, an expression or a brace leaves them all unknown.
func (w *walker) enumValues(from, to int) {
	values := map[string]string{}
	anchor, after := "0", -1
	for j := from; j < to; {
		k := j
		for k < to && w.toks[k].text != "," {
			k++
		}
		item := w.toks[j:k]
		switch {
		case len(item) == 0 && k == to:
			// A comma after the last constant.
		case len(item) == 1 && item[0].kind == kIdent:
			after++
			values[item[0].text] = fmt.Sprintf("%s+%d", anchor, after)
		case len(item) == 3 && item[0].kind == kIdent && item[1].text == "=":
			v, ok := intLiteral(item[2])
			if !ok {
				return
			}
			anchor, after = v, 0
			values[item[0].text] = fmt.Sprintf("%s+%d", anchor, after)
		default:
			return
		}
		j = k + 1
	}
	if len(values) == 0 {
		return
	}
	if w.values == nil {
		w.values = map[string]string{}
	}
	maps.Copy(w.values, values)
}

// intLiteral returns the value of an integer literal without a suffix
// that is an int wherever the kernel builds (|v| < 2^31), in decimal.
func intLiteral(t token) (string, bool) {
	if t.kind != kNumber {
		return "", false
	}
	v, err := strconv.ParseInt(t.text, 0, 32)
	if err != nil {
		return "", false
	}
	return strconv.FormatInt(v, 10), true
}
