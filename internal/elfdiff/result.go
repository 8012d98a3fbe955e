package elfdiff

import (
	"encoding/json"
	"fmt"
	"io"
)

// Status is what happened to a function or data object between the pre and
// the post object.
type Status string

const (
	// StatusUnchanged: same bytes and same relocation targets.
	StatusUnchanged Status = "unchanged"
	// StatusNoise: differs only by known noise, named in the reasons
	// (__LINE__ arguments, __bug_table line fields, printk index records).
	StatusNoise Status = "unchanged-noise"
	// StatusChanged: differs; the reasons say where.
	StatusChanged Status = "changed"
	// StatusNew: only in the post object.
	StatusNew Status = "new"
	// StatusRemoved: only in the pre object.
	StatusRemoved Status = "removed"
)

// Result is the answer of Diff. Its JSON form is ksplice diff --json and is
// documented in docs/elfdiff.md; keep it stable.
type Result struct {
	Arch      string      `json:"arch"`
	Functions []*FuncDiff `json:"functions"`
	Data      []*DataDiff `json:"data"`
	Refusals  []Refusal   `json:"refusals"`
	// Carry names what an update built from this diff must carry.
	Carry Carry `json:"carry"`
	// Authored is what the author macros of the patched source declared:
	// hooks, functions and sections to ignore.
	Authored *Authored `json:"authored,omitempty"`

	// RunningMissing names the pre-patch functions that the running
	// object (UseRunning) does not have, or has more than once: their
	// old code cannot be taken from it.
	RunningMissing []string `json:"running_missing,omitempty"`

	Pre  *File `json:"-"`
	Post *File `json:"-"`
	// Running is the pre-patch object built with the kernel's own flags,
	// nil when there is none (see UseRunning).
	Running *File `json:"-"`
}

// Carry lists, by name in the post object, the functions an update must
// carry (changed, new, their .cold/.part relatives, and functions forced in
// by references into their middle) and the data objects it must carry (new
// data, changed read-only data used only by carried code).
type Carry struct {
	Functions []string `json:"functions"`
	Data      []string `json:"data"`
}

// FuncDiff is the verdict on one function.
type FuncDiff struct {
	Name    string   `json:"name"`
	Section string   `json:"section"`
	Status  Status   `json:"status"`
	Reasons []string `json:"reasons"`
	// Parent is the function a .cold or .part clone belongs to.
	Parent string `json:"parent,omitempty"`
	// Carry is set when the update must carry the function.
	Carry bool `json:"carry"`
	// ThroughCallers is set for a carried function that has no ftrace
	// site (notrace, and every out-of-line copy of an inline function:
	// the kernel's inline implies notrace, as in a syscall's
	// __do_sys_NAME): the update carries its new code without replacing
	// it, and replaces its callers, all of them direct calls in this
	// object, so that they call the new code.
	ThroughCallers bool `json:"through_callers,omitempty"`
	// Jump is set for a replaced function that has no ftrace site: the
	// engine diverts its calls by a direct jump over this window of its
	// old code instead of through ftrace.
	Jump *JumpWindow `json:"jump,omitempty"`

	// Pre and Post are the function in each object; Pre is nil for new
	// functions, Post for removed ones. For a replaced function, Pre is the
	// old code run-pre matching looks for.
	Pre  *Function `json:"-"`
	Post *Function `json:"-"`
	// Running is Pre's counterpart in the running object (UseRunning):
	// the old code run-pre compares. Nil without a running object, or
	// when it has no such function.
	Running *Function `json:"-"`
}

// DataDiff is the verdict on one data object.
type DataDiff struct {
	Name    string   `json:"name"`
	Section string   `json:"section"`
	Status  Status   `json:"status"`
	Reasons []string `json:"reasons"`
	Carry   bool     `json:"carry"`

	Pre  *Object `json:"-"`
	Post *Object `json:"-"`
}

// Refusal is a change an update cannot carry safely.
type Refusal struct {
	Symbol  string `json:"symbol"`
	Section string `json:"section"`
	// Rule is the rule that refused (see Rules and docs/elfdiff.md).
	Rule Rule `json:"rule"`
	// Reason says why, and what the author can do instead.
	Reason string `json:"reason"`
}

// Error returns "SYMBOL (RULE): REASON".
func (r Refusal) Error() string {
	return fmt.Sprintf("%s (%s): %s", Display(r.Symbol), r.Rule, r.Reason)
}

// Unwrap returns the sentinel of the refusal's rule, such as
// ErrDataChanged.
func (r Refusal) Unwrap() error { return r.Rule.Err() }

// Err returns a *RefusedError when the result has refusals, else nil.
func (r *Result) Err() error {
	if len(r.Refusals) == 0 {
		return nil
	}
	return &RefusedError{Refusals: r.Refusals}
}

// CarriedFunctions returns the functions the update must carry, in the
// order of the post object.
func (r *Result) CarriedFunctions() []*FuncDiff {
	var out []*FuncDiff
	for _, fd := range r.Functions {
		if fd.Carry {
			out = append(out, fd)
		}
	}
	return out
}

// CarriedData returns the data objects the update must carry.
func (r *Result) CarriedData() []*DataDiff {
	var out []*DataDiff
	for _, dd := range r.Data {
		if dd.Carry {
			out = append(out, dd)
		}
	}
	return out
}

// WriteJSON writes the result as indented JSON, the stable form of
// ksplice diff --json.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
