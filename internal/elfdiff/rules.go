package elfdiff

import "fmt"

// Rule names one refusal rule. Its string is stable: it is the "rule" of
// ksplice diff --json, and docs/elfdiff.md lists them all.
type Rule string

// The refusal rules. Each has a sentinel error (Rule.Err) that a Refusal
// unwraps to, so that callers branch with errors.Is, not on strings.
const (
	// RuleInit: a carried function is __init or __exit code.
	RuleInit Rule = "init"
	// RuleTooShort: a replaced function has no room for the trampoline.
	RuleTooShort Rule = "too-short"
	// RuleInitData: changed __initdata.
	RuleInitData Rule = "init-data"
	// RuleReadMostly: changed data in .data..read_mostly.
	RuleReadMostly Rule = "read-mostly"
	// RuleDataOnce: changed once-flags in .data.once.
	RuleDataOnce Rule = "data-once"
	// RuleDataChanged: the initializer of writable data changed; the
	// running kernel keeps its current value.
	RuleDataChanged Rule = "data-changed"
	// RuleRodataChanged: read-only data changed and unchanged code uses it.
	RuleRodataChanged Rule = "rodata-changed"
	// RuleMiddleReference: data that is not carried points into the middle
	// of a carried function.
	RuleMiddleReference Rule = "middle-reference"
	// RuleUnknownSection: a section elfdiff does not know changed, or
	// points into a carried function.
	RuleUnknownSection Rule = "unknown-section"
	// RuleTrampolineSite: the bytes the trampoline would overwrite hold a
	// site the kernel rewrites at run time (a jump label, a static call,
	// an alternative, a paravirt or lock-prefix site): the next rewrite
	// would corrupt the trampoline, or BUG on it.
	RuleTrampolineSite Rule = "trampoline-site"
	// RuleExportChanged: the patch adds or removes an EXPORT_SYMBOL: the
	// running kernel's export table cannot change.
	RuleExportChanged Rule = "export-changed"
)

// The sentinels of the rules. Each wraps ErrRefused (and so
// verdict.ErrRefused).
var (
	ErrInit            = RuleInit.newSentinel("changes __init or __exit code")
	ErrTooShort        = RuleTooShort.newSentinel("function too short for a trampoline")
	ErrInitData        = RuleInitData.newSentinel("changes __initdata")
	ErrReadMostly      = RuleReadMostly.newSentinel("changes .data..read_mostly")
	ErrDataOnce        = RuleDataOnce.newSentinel("changes .data.once")
	ErrDataChanged     = RuleDataChanged.newSentinel("changes the initializer of data")
	ErrRodataChanged   = RuleRodataChanged.newSentinel("changes read-only data that unchanged code uses")
	ErrMiddleReference = RuleMiddleReference.newSentinel("reference into the middle of a carried function")
	ErrUnknownSection  = RuleUnknownSection.newSentinel("changes a section ksplice cannot carry")
	ErrTrampolineSite  = RuleTrampolineSite.newSentinel("trampoline over a site the kernel rewrites at run time")
	ErrExportChanged   = RuleExportChanged.newSentinel("adds or removes an exported symbol")
)

// ruleSentinels maps each rule to its sentinel; filled by newSentinel,
// which package initialization runs after this map is made.
var ruleSentinels = map[Rule]error{}

func (r Rule) newSentinel(msg string) error {
	s := &ruleSentinel{rule: r, msg: msg}
	ruleSentinels[r] = s
	return s
}

// ruleSentinel is the sentinel of one rule; it unwraps to ErrRefused.
type ruleSentinel struct {
	rule Rule
	msg  string
}

func (s *ruleSentinel) Error() string { return fmt.Sprintf("%v (%s): %s", ErrRefused, s.rule, s.msg) }
func (s *ruleSentinel) Unwrap() error { return ErrRefused }

// Err returns the sentinel of rule r, or ErrRefused for a rule this
// version does not know.
func (r Rule) Err() error {
	if s, ok := ruleSentinels[r]; ok {
		return s
	}
	return ErrRefused
}

// Rules lists every refusal rule.
func Rules() []Rule {
	return []Rule{RuleInit, RuleTooShort, RuleInitData, RuleReadMostly, RuleDataOnce,
		RuleDataChanged, RuleRodataChanged, RuleMiddleReference, RuleUnknownSection, RuleTrampolineSite, RuleExportChanged}
}
