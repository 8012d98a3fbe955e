package tudiff

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrSyntax means the input is not preprocessed C that the splitter can
// follow (unbalanced brackets, an unterminated literal).
var ErrSyntax = errors.New("not preprocessed C")

// kind of a token.
type kind uint8

const (
	kIdent kind = iota
	kNumber
	kString // string or character literal, prefix included
	kPunct
	kPragma // a #pragma line, whole
)

type token struct {
	kind kind
	text string
}

// multiPunct are C's punctuators of more than one character, longest
// first: "a - -b" and "a --b" must not read the same.
var multiPunct = []string{
	"...", "<<=", ">>=",
	"->", "++", "--", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||",
	"*=", "/=", "%=", "+=", "-=", "&=", "^=", "|=", "##", "<:", ":>", "<%", "%>",
}

// Decl is one top-level declaration of a unit: a function definition, or
// everything up to a semicolon outside brackets, or a #pragma between
// declarations.
type Decl struct {
	// File and Line say where it starts (the preprocessor's line
	// markers), for messages.
	File string
	Line int

	toks []token
	hash uint64
	info
}

// Unit is a preprocessed translation unit as its top-level declarations.
type Unit struct {
	Decls []*Decl
}

// Parse splits a preprocessed translation unit (gcc -E output, line
// markers kept) into its top-level declarations. It returns ErrSyntax
// wrapped with the place where it lost its way.
func Parse(src []byte) (*Unit, error) {
	// One string for the whole unit: tokens are slices of it.
	s := scanner{src: string(src), line: 1}
	u := &Unit{}
	// The tokens of every declaration, in chunks: cur is the end of the
	// last one, growing until the declaration ends and is kept.
	var arena, cur []token
	add := func(t token) {
		if len(arena) == cap(arena) {
			// A new chunk, with the declaration so far.
			next := make([]token, len(cur), max(1<<14, 2*len(cur)+1))
			copy(next, cur)
			arena = next
		}
		arena = append(arena, t)
		cur = arena[len(arena)-len(cur)-1 : len(arena) : len(arena)]
	}
	var start struct {
		file string
		line int
	}
	depth := 0 // (), [] and {} together
	// A function body is a { at depth 0 after a parameter list's ): the
	// declaration ends with its }. lastSig is the last token at depth 0
	// that is not part of an attribute or asm label.
	lastSig := ""
	attrDepth := -1 // depth of the attribute group being skipped, or -1
	bodyOpen := false
	bodyAt := -1
	words := newWordTable()
	typedefs := map[string]bool{}
	for name := range builtinTypes {
		typedefs[name] = true
	}
	flush := func() {
		if len(cur) == 0 {
			return
		}
		d := &Decl{toks: cur, File: start.file, Line: start.line}
		words.gen++
		d.finish(bodyAt, typedefs, words)
		u.Decls = append(u.Decls, d)
		cur, lastSig, bodyOpen, bodyAt, attrDepth = arena[len(arena):], "", false, -1, -1
	}
	for {
		t, ok, err := s.next()
		if err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %v", ErrSyntax, s.file, s.line, err)
		}
		if !ok {
			break
		}
		if t.kind == kPragma && depth == 0 && len(cur) == 0 {
			// A pragma between declarations stands alone: those
			// that are not diagnostics change what follows.
			start.file, start.line = s.file, s.line
			add(t)
			flush()
			continue
		}
		if len(cur) == 0 {
			start.file, start.line = s.file, s.line
		}
		add(t)
		if t.kind == kIdent && (t.text == "__builtin_LINE" || t.text == "__builtin_FILE") {
			// Their value is where they are, which no token says.
			add(token{kString, strconv.Quote(s.file + ":" + strconv.Itoa(s.line))})
		}
		if t.kind != kPunct {
			if depth == 0 && attrDepth < 0 {
				if skipGroup[t.text] {
					attrDepth = 0 // the next ( opens it
				} else {
					lastSig = t.text
				}
			}
			continue
		}
		switch t.text {
		case "(", "[", "{":
			if t.text == "{" && depth == 0 && lastSig == ")" && attrDepth < 0 {
				bodyOpen, bodyAt = true, len(cur)-1
			}
			if attrDepth == 0 && depth == 0 && t.text == "(" {
				attrDepth = 1
			}
			depth++
		case ")", "]", "}":
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("%w: %s:%d: unbalanced %q", ErrSyntax, s.file, s.line, t.text)
			}
			if depth == 0 {
				if attrDepth > 0 {
					attrDepth = -1
					continue
				}
				lastSig = t.text
				if t.text == "}" && bodyOpen {
					flush()
				}
			}
		case ";":
			if depth == 0 {
				flush()
			}
		default:
			if depth == 0 && attrDepth < 0 {
				lastSig = t.text
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("%w: %s:%d: unbalanced brackets at the end", ErrSyntax, s.file, s.line)
	}
	flush()
	return u, nil
}

// skipGroup are the words whose parenthesised group that follows is not
// part of a declarator.
var skipGroup = map[string]bool{
	"__attribute__": true, "__attribute": true,
	"asm": true, "__asm__": true, "__asm": true,
}

// scanner reads the tokens of preprocessed C, following line markers.
type scanner struct {
	src  string
	pos  int
	file string
	line int
	bol  bool // at the beginning of a line
}

func (s *scanner) next() (token, bool, error) {
	if s.pos == 0 {
		s.bol = true
	}
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == '\n':
			s.pos++
			s.line++
			s.bol = true
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v':
			s.pos++
			continue
		case c == '#' && s.bol:
			end := strings.IndexByte(s.src[s.pos:], '\n')
			if end < 0 {
				end = len(s.src) - s.pos
			}
			directive := s.src[s.pos : s.pos+end]
			s.pos += end
			if t, ok := s.directive(directive); ok {
				return t, true, nil
			}
			continue
		}
		s.bol = false
		start := s.pos
		switch {
		case isIdentStart(c):
			for s.pos < len(s.src) && isIdent(s.src[s.pos]) {
				s.pos++
			}
			// L"x", u8"x", u'x': the prefix is part of the literal.
			if s.pos < len(s.src) && (s.src[s.pos] == '"' || s.src[s.pos] == '\'') {
				switch s.src[start:s.pos] {
				case "L", "u", "U", "u8":
					if err := s.literal(); err != nil {
						return token{}, false, err
					}
					return token{kString, s.src[start:s.pos]}, true, nil
				}
			}
			return token{kIdent, s.src[start:s.pos]}, true, nil
		case isDigit(c) || c == '.' && s.pos+1 < len(s.src) && isDigit(s.src[s.pos+1]):
			// A pp-number: digits, letters, _, . and signed exponents.
			s.pos++
			for s.pos < len(s.src) {
				d := s.src[s.pos]
				if (d == '+' || d == '-') && strings.ContainsRune("eEpP", rune(s.src[s.pos-1])) {
					s.pos++
					continue
				}
				if !isIdent(d) && d != '.' {
					break
				}
				s.pos++
			}
			return token{kNumber, s.src[start:s.pos]}, true, nil
		case c == '"' || c == '\'':
			if err := s.literal(); err != nil {
				return token{}, false, err
			}
			return token{kString, s.src[start:s.pos]}, true, nil
		}
		if strings.IndexByte("-+<>=!&|*/%^#.:", c) >= 0 {
			for _, p := range multiPunct {
				if strings.HasPrefix(s.src[s.pos:], p) {
					s.pos += len(p)
					return token{kPunct, p}, true, nil
				}
			}
		}
		s.pos++
		return token{kPunct, s.src[start:s.pos]}, true, nil
	}
	return token{}, false, nil
}

// literal skips a string or character literal starting at its quote.
func (s *scanner) literal() error {
	q := s.src[s.pos]
	s.pos++
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case '\\':
			s.pos += 2
			continue
		case '\n':
			return fmt.Errorf("unterminated literal")
		case q:
			s.pos++
			return nil
		}
		s.pos++
	}
	return fmt.Errorf("unterminated literal")
}

// directive follows a line marker (# 12 "file" 1 3), and returns a
// #pragma as a token.
func (s *scanner) directive(d string) (token, bool) {
	f := strings.Fields(strings.TrimPrefix(d, "#"))
	if len(f) == 0 {
		return token{}, false
	}
	if f[0] == "line" {
		f = f[1:]
	}
	if len(f) > 0 {
		if n, err := strconv.Atoi(f[0]); err == nil {
			// The marker names the line that follows it.
			s.line = n - 1
			if len(f) > 1 {
				if name, err := strconv.Unquote(f[1]); err == nil {
					s.file = name
				}
			}
			return token{}, false
		}
	}
	if len(f) > 0 && f[0] == "pragma" {
		return token{kPragma, "#pragma " + strings.Join(f[1:], " ")}, true
	}
	// #ident and the like make no code.
	return token{}, false
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdent(c byte) bool { return isIdentStart(c) || isDigit(c) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Text is the declaration's tokens joined by single spaces.
func (d *Decl) Text() string { return joinTokens(d.toks) }
