// Package cdecl reads C source as it is written, before preprocessing: its
// top-level declarations with the lines they span, and the identifiers it
// names. It is what ksplice knows of a header's text without compiling it,
// and errs one way: what it cannot read as a function's declaration or
// definition is Other, never a function.
package cdecl

import (
	"slices"
	"strings"
)

// Kind is what a top-level piece of source is.
type Kind int

const (
	// Other is any declaration that is not a function's: a variable,
	// a type, a macro's invocation, or text that does not parse.
	Other Kind = iota
	// Function is the declaration of one function (a prototype) or its
	// definition, with the function's name.
	Function
	// Directive is a preprocessor line, with its continuations.
	Directive
)

func (k Kind) String() string {
	switch k {
	case Function:
		return "function"
	case Directive:
		return "directive"
	}
	return "declaration"
}

// Decl is one top-level declaration or directive.
type Decl struct {
	Kind Kind
	// Name is the function's, for a Function.
	Name string
	// Body says a Function is defined here, not only declared; Static,
	// that its specifiers say static (an inline's own copy in each
	// object that uses it), not external linkage (one definition, which
	// every object that includes the text compiles).
	Body, Static bool
	// First and Last are the lines (1-based) of its first and last
	// token.
	First, Last int
	// Tag is, for a declaration that only defines a type ("struct s {
	// ... };", maybe with attributes after its body), the type:
	// "struct s", "union u", "enum e".
	Tag string
	// Macro is, for a #define, the macro's name.
	Macro string
}

// Token is an identifier of the source, outside comments, strings and
// character constants.
type Token struct {
	Name string
	Line int
	// Pasted is whether a ## joins it to another token: the name it
	// makes is not itself.
	Pasted bool
	// Prev is the token before it ("->" as one), "" if none; Next, the
	// token after it on its line ("" if none).
	Prev, Next string
	// Directive: it is on a preprocessor line.
	Directive bool
	// Param: it is a parameter of the function-like macro whose
	// #define it is in (or __VA_ARGS__): the argument replaces it,
	// pasted or not.
	Param bool
	// Macro is the name of the macro whose #define it is in, itself
	// included.
	Macro string
	// Extern: an extern comes before it in its statement (since the
	// last ;, { or }, or the start of its directive's line). A
	// block-scope extern declaration names a file-scope entity, where
	// the same name elsewhere in a block may be a local.
	Extern bool
}

type lexer struct {
	src  []byte
	i    int
	line int
	// lineFirst: the last token next returned began a logical line.
	lineFirst bool
}

type tok struct {
	text string
	line int
}

// next returns the next token and whether it starts a directive; ok false
// at the end. Comments are skipped, strings and character constants come
// back whole, every other character alone ("##" as one).
func (l *lexer) next(lineStart *bool) (t tok, directive bool, ok bool) {
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case c == '\n':
			l.line++
			l.i++
			*lineStart = true
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			l.i++
			continue
		case c == '\\' && l.i+1 < len(l.src) && l.src[l.i+1] == '\n':
			l.line++
			l.i += 2
			continue
		case c == '/' && l.i+1 < len(l.src) && (l.src[l.i+1] == '/' || l.src[l.i+1] == '*'):
			l.skipComment()
			continue
		}
		directive = *lineStart && c == '#'
		l.lineFirst = *lineStart
		*lineStart = false
		start, line := l.i, l.line
		switch {
		case isIdentStart(c):
			for l.i < len(l.src) && isIdent(l.src[l.i]) {
				l.i++
			}
		case c == '"' || c == '\'':
			l.i++
			for l.i < len(l.src) && l.src[l.i] != c && l.src[l.i] != '\n' {
				if l.src[l.i] == '\\' {
					l.i++
				}
				l.i++
			}
			l.i++
		case c == '#' && l.i+1 < len(l.src) && l.src[l.i+1] == '#':
			l.i += 2
		default:
			l.i++
		}
		l.i = min(l.i, len(l.src))
		return tok{string(l.src[start:l.i]), line}, directive, true
	}
	return tok{}, false, false
}

// restOfLine skips to the end of a directive's line, past continuations
// and comments (a block comment may span lines), and returns its last
// line.
func (l *lexer) restOfLine() int {
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case c == '\n':
			return l.line
		case c == '\\' && l.i+1 < len(l.src) && l.src[l.i+1] == '\n':
			l.line++
			l.i += 2
		case c == '/' && l.i+1 < len(l.src) && (l.src[l.i+1] == '*' || l.src[l.i+1] == '/'):
			l.skipComment()
		case c == '"' || c == '\'':
			lineStart := false
			l.next(&lineStart)
		default:
			l.i++
		}
	}
	return l.line
}

// headerName returns the rest of a <...> header name, the closing >
// included, up to the end of the line.
func (l *lexer) headerName() string {
	start := l.i
	for l.i < len(l.src) && l.src[l.i] != '\n' {
		l.i++
		if l.src[l.i-1] == '>' {
			break
		}
	}
	return string(l.src[start:l.i])
}

// skipComment skips the comment at l.i.
func (l *lexer) skipComment() {
	if l.src[l.i+1] == '/' {
		for l.i < len(l.src) && l.src[l.i] != '\n' {
			if l.src[l.i] == '\\' && l.i+1 < len(l.src) && l.src[l.i+1] == '\n' {
				l.line++
				l.i++
			}
			l.i++
		}
		return
	}
	l.i += 2
	for l.i < len(l.src) && !(l.src[l.i] == '*' && l.i+1 < len(l.src) && l.src[l.i+1] == '/') {
		if l.src[l.i] == '\n' {
			l.line++
		}
		l.i++
	}
	l.i = min(l.i+2, len(l.src))
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdent(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// Scan returns the top-level declarations and directives of src, in
// order.
func Scan(src []byte) []Decl {
	l := &lexer{src: src, line: 1}
	var out []Decl
	var (
		toks   []string // the open declaration's tokens outside braces
		first  int
		last   int
		depth  int
		isBody bool // the open brace is a function's body
	)
	end := func() {
		if toks == nil {
			return
		}
		d := Decl{Kind: Other, First: first, Last: last}
		if name, params, ok := function(toks); ok {
			d.Kind, d.Name = Function, name
			d.Body = toks[len(toks)-1] == "{}"
			d.Static = slices.Contains(toks[:params], "static")
		} else {
			d.Tag = typeDefinition(toks)
		}
		out = append(out, d)
		toks = nil
	}
	lineStart := true
	for {
		t, directive, ok := l.next(&lineStart)
		if !ok {
			break
		}
		if directive {
			macro := defined(src[l.i:])
			out = append(out, Decl{Kind: Directive, First: t.line, Last: l.restOfLine(), Macro: macro})
			lineStart = true
			continue
		}
		if toks == nil {
			toks, first = []string{}, t.line
		}
		last = t.line
		switch {
		case t.text == "{":
			if depth == 0 {
				isBody = len(toks) > 0 && toks[len(toks)-1] == ")"
			}
			depth++
		case t.text == "}" && depth > 0:
			depth--
			if depth == 0 {
				toks = append(toks, "{}")
				if isBody {
					end()
				}
			}
		case depth > 0:
		case t.text == ";":
			toks = append(toks, ";")
			end()
		default:
			toks = append(toks, t.text)
		}
	}
	end()
	return out
}

// typeDefinition returns the type that toks (a declaration's tokens
// outside braces, a body as "{}") define and nothing else: "struct s",
// from "struct s {} ;" or "struct s {} __attribute__ ( ( packed ) ) ;".
// "" for anything else: a variable of the type, a typedef, an anonymous
// type.
func typeDefinition(toks []string) string {
	if len(toks) < 4 || toks[len(toks)-1] != ";" || toks[2] != "{}" || !isIdentStart(toks[1][0]) {
		return ""
	}
	switch toks[0] {
	case "struct", "union", "enum":
	default:
		return ""
	}
	// What follows the body are attributes (the kernel spells them
	// __attribute__, __aligned(8), ____cacheline_aligned), not a
	// declarator.
	if rest := toks[3 : len(toks)-1]; len(rest) > 0 && !strings.HasPrefix(rest[0], "__") {
		return ""
	}
	return toks[0] + " " + toks[1]
}

// defined returns the macro that a directive defines, given its text after
// the "#": NAME of "define NAME ...", or "".
func defined(rest []byte) string {
	word := func() string {
		for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
			rest = rest[1:]
		}
		n := 0
		for n < len(rest) && isIdent(rest[n]) {
			n++
		}
		w := string(rest[:n])
		rest = rest[n:]
		return w
	}
	if word() != "define" {
		return ""
	}
	if w := word(); w != "" && isIdentStart(w[0]) {
		return w
	}
	return ""
}

// function returns the name of the function that toks (a declaration's
// tokens outside braces, a body as "{}") declares or defines: specifiers
// and a type, the name, its parameters, attributes, then ";" or a body.
// Attributes may come first ("__printf(1, 2) void f(...)") or among the
// specifiers ("static __attribute__((x)) int f(...)"). Anything else is
// not a function: a macro's invocation among them, which may define
// functions of other names (seqlock.h's SEQCOUNT_LOCKNAME(...) lines,
// with no ";", run into the declaration after them).
//
// It returns the index of the parameters' "(" too.
func function(toks []string) (string, int, bool) {
	if len(toks) < 4 || toks[0] == "typedef" {
		return "", 0, false
	}
	if end := toks[len(toks)-1]; end != ";" && end != "{}" {
		return "", 0, false
	}
	// The name is the last identifier before a parenthesis that a
	// specifier or type comes before: "__attribute__" in
	// "int f(int) __attribute__((cold))" follows a parenthesis.
	name, params := "", -1
	typeish := false // a specifier or type came before
	for i := 0; i < len(toks)-1; i++ {
		t := toks[i]
		switch {
		case isIdentStart(t[0]) && toks[i+1] == "(":
			close, ok := group(toks, i+1)
			if !ok {
				return "", 0, false
			}
			switch {
			case typeish:
				name, params = t, i+1
			case i > 0 && toks[i-1] == ")":
				// An attribute after the parameters.
			case !attribute(t):
				return "", 0, false
			}
			i = close
			typeish = false
		case isIdentStart(t[0]) || t == "*":
			if params >= 0 {
				if !attribute(name) {
					return "", 0, false // a type after the parameters
				}
				// It was an attribute among the specifiers.
				name, params = "", -1
			}
			typeish = true
		default:
			return "", 0, false
		}
	}
	// All capitals: a macro that declares something (DEFINE_MUTEX(m)).
	if name == "" || strings.ToUpper(name) == name {
		return "", 0, false
	}
	if toks[len(toks)-1] == "{}" && toks[len(toks)-2] != ")" {
		return "", 0, false
	}
	return name, params, true
}

// attribute tells whether a parenthesized group before a declaration's
// specifiers may be an attribute: __attribute__ itself, or a macro of
// one in the kernel's spelling (__printf, __section, __aligned), never a
// macro of capitals that may define anything.
func attribute(name string) bool {
	return strings.HasPrefix(name, "__") && strings.ToUpper(name) != name
}

// group returns the index of the ")" that closes the "(" at toks[open].
// A body, "=" or "," inside is not of a function's declarator.
func group(toks []string, open int) (int, bool) {
	depth := 0
	for i := open; i < len(toks); i++ {
		switch toks[i] {
		case "(":
			depth++
		case ")":
			depth--
			if depth == 0 {
				return i, true
			}
		case "{}", ";":
			return 0, false
		}
	}
	return 0, false
}

// ctxToken is a token of the source with what surrounds it.
type ctxToken struct {
	text      string // "->" as one
	line      int
	directive bool   // on a preprocessor line
	macro     string // the #define it is in
	param     bool   // a parameter of that macro
	prev      string // the token before, "" at a directive's start
}

// each calls fn with each token of src, outside comments, in order.
func each(src []byte, fn func(ctxToken)) {
	l := &lexer{src: src, line: 1}
	lineStart := true
	prev := ""
	inDirective := false
	var params map[string]bool // of the #define being read
	inParams := false          // reading them
	macro := ""                // its name
	for {
		t, directive, ok := l.next(&lineStart)
		if !ok {
			break
		}
		if l.lineFirst {
			if directive || inDirective {
				prev = "" // a directive's line is apart
			}
			inDirective = directive
			params, inParams, macro = nil, false, ""
		}
		switch {
		case inDirective && prev == "define" && isIdentStart(t.text[0]):
			macro = t.text
			// A function-like macro's name has its "(" right
			// after it, no space between.
			if l.i < len(l.src) && l.src[l.i] == '(' {
				params, inParams = map[string]bool{"__VA_ARGS__": true}, true
			}
		case inParams && t.text == ")":
			inParams = false
		case inParams && isIdentStart(t.text[0]):
			params[t.text] = true
		}
		text := t.text
		if text == ">" && prev == "-" {
			text = "->"
		}
		if inDirective && text == "<" && (prev == "include" || prev == "include_next" || prev == "import") {
			// A header's name is one token: <linux/utsname.h>
			// names no utsname.
			text += l.headerName()
		}
		fn(ctxToken{text: text, line: t.line, directive: inDirective, macro: macro, param: params[text], prev: prev})
		prev = text
	}
}

// Tokens returns the identifiers of src, outside comments, strings and
// character constants, directives included.
func Tokens(src []byte) []Token {
	var out []Token
	prevPaste := false // the token before was ##
	prevIdent := false // the token before was out's last
	lastIdent := false // the token before is out's last, on this line
	extern := false    // an extern came before, in this statement
	wasDirective := false
	each(src, func(t ctxToken) {
		if lastIdent && t.prev != "" {
			out[len(out)-1].Next = t.text
		}
		lastIdent = isIdentStart(t.text[0])
		if t.directive != wasDirective || t.directive && t.prev == "" {
			extern = false // a directive's line is apart
		}
		wasDirective = t.directive
		switch t.text {
		case ";", "{", "}":
			extern = false
		case "extern":
			extern = true
		}
		switch {
		case t.text == "##":
			if prevIdent {
				out[len(out)-1].Pasted = true
			}
			prevPaste, prevIdent = true, false
			return
		case isIdentStart(t.text[0]):
			out = append(out, Token{Name: t.text, Line: t.line, Pasted: prevPaste, Prev: t.prev, Directive: t.directive, Param: t.param, Macro: t.macro, Extern: extern && t.text != "extern"})
			prevIdent = true
		default:
			prevIdent = false
		}
		prevPaste = false
	})
	return out
}

// Paste is the tokens that ## joins into one (a ## b ## c), in a macro's
// definition.
type Paste struct {
	Line  int
	Macro string // the #define it is in
	Parts []Part
	// Prev is the token before the first part: "->" where the name
	// made is a member's.
	Prev string
}

// Part is a token of a Paste: Literal if it is an identifier that is not
// one of the macro's parameters, whose text is then part of every name the
// paste makes; any other's text is not known (an argument replaces a
// parameter; a number is read a character at a time).
type Part struct {
	Text    string
	Literal bool
}

// Pastes returns the pastes (##) of src's macro definitions.
func Pastes(src []byte) []Paste {
	var out []Paste
	var last ctxToken // the token before the current one, not ##
	tail := false     // last is the last part of out's last paste
	joining := false  // a ## came after last
	each(src, func(t ctxToken) {
		part := func(c ctxToken) Part {
			return Part{Text: c.text, Literal: isIdentStart(c.text[0]) && !c.param}
		}
		switch {
		case t.text == "##":
			if last.macro == "" || last.macro != t.macro {
				joining = false // no paste outside a definition
				return
			}
			if !tail {
				out = append(out, Paste{Line: last.line, Macro: last.macro, Parts: []Part{part(last)}, Prev: last.prev})
			}
			joining = true
			return
		case joining && t.macro == last.macro:
			out[len(out)-1].Parts = append(out[len(out)-1].Parts, part(t))
			tail = true
		default:
			tail = false
		}
		joining = false
		last = t
	})
	return out
}
