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
	// RuleNoFtraceSite: a replaced function has no ftrace call site at
	// its entry, through which the engine redirects its calls.
	RuleNoFtraceSite Rule = "no-ftrace-site"
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
	// RuleExportChanged: the patch adds or removes an EXPORT_SYMBOL: the
	// running kernel's export table cannot change.
	RuleExportChanged Rule = "export-changed"
	// RuleStructLayout: the layout of a structure or union the object
	// was compiled with changes (create compares the objects' DWARF):
	// new code would misread the running kernel's objects of that type.
	RuleStructLayout Rule = "struct-layout"
	// RuleEnumValue: an enumeration constant the object was compiled
	// with changes its value (create compares the objects' DWARF): the
	// values the running kernel stored with the old numbering would be
	// read with the new one.
	RuleEnumValue Rule = "enum-value"
)

// The sentinels of the rules. Each wraps ErrRefused (and so
// verdict.ErrRefused).
var (
	ErrInit            = RuleInit.newSentinel("changes __init or __exit code")
	ErrNoFtraceSite    = RuleNoFtraceSite.newSentinel("function without an ftrace site")
	ErrInitData        = RuleInitData.newSentinel("changes __initdata")
	ErrReadMostly      = RuleReadMostly.newSentinel("changes .data..read_mostly")
	ErrDataOnce        = RuleDataOnce.newSentinel("changes .data.once")
	ErrDataChanged     = RuleDataChanged.newSentinel("changes the initializer of data")
	ErrRodataChanged   = RuleRodataChanged.newSentinel("changes read-only data that unchanged code uses")
	ErrMiddleReference = RuleMiddleReference.newSentinel("reference into the middle of a carried function")
	ErrUnknownSection  = RuleUnknownSection.newSentinel("changes a section ksplice cannot carry")
	ErrExportChanged   = RuleExportChanged.newSentinel("adds or removes an exported symbol")
	ErrStructLayout    = RuleStructLayout.newSentinel("changes the layout of a structure or union")
	ErrEnumValue       = RuleEnumValue.newSentinel("changes the value of an enumeration constant")
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
	return []Rule{RuleInit, RuleNoFtraceSite, RuleInitData, RuleReadMostly, RuleDataOnce,
		RuleDataChanged, RuleRodataChanged, RuleMiddleReference, RuleUnknownSection, RuleExportChanged,
		RuleStructLayout, RuleEnumValue}
}
