package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

type diffOptions struct {
	Streams
	Pre, Post string
	JSON      bool
	All       bool
}

func newDiffCmd(s Streams) *cobra.Command {
	opts := &diffOptions{Streams: s}
	cmd := &cobra.Command{
		Use:   "diff [--json] PRE.o POST.o",
		Short: "Show which functions and data a patch changed between two kernel objects",
		Long: `diff compares an object built before a patch with the same object built after
it (both with -ffunction-sections -fdata-sections, x86-64 or arm64) and says,
per function and data object, whether it changed, is new or removed, or
differs only by noise such as a moved __LINE__, and why. It lists what an
update must carry and refuses, with a reason, what an update cannot carry.

Exit status: 0 when an update can be built, 3 when something is refused
(after the full report), 4 for an unsupported architecture or relocation.`,
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Pre, opts.Post = args[0], args[1]
			return runDiff(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON (documented in docs/elfdiff.md)")
	cmd.Flags().BoolVar(&opts.All, "all", false, "list unchanged symbols too")
	return cmd
}

func runDiff(opts *diffOptions) error {
	pre, err := elfdiff.Open(opts.Pre)
	if err != nil {
		return fmt.Errorf("load pre: %w", err)
	}
	post, err := elfdiff.Open(opts.Post)
	if err != nil {
		return fmt.Errorf("load post: %w", err)
	}
	res, err := elfdiff.Diff(pre, post)
	if err != nil {
		return fmt.Errorf("diff: %w", err)
	}
	if opts.JSON {
		if err := res.WriteJSON(opts.Out); err != nil {
			return err
		}
	} else if err := writeDiffText(opts.Out, res, opts.All); err != nil {
		return err
	}
	return res.Err()
}

func writeDiffText(w io.Writer, res *elfdiff.Result, all bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "arch: %s\n", res.Arch)
	row := func(kind, name, section string, status elfdiff.Status, carry bool, parent string, reasons []string) {
		if !all && status == elfdiff.StatusUnchanged && !carry {
			return
		}
		mark := " "
		if carry {
			mark = "*"
		}
		name = elfdiff.Display(name)
		if parent != "" {
			name += " (of " + elfdiff.Display(parent) + ")"
		}
		fmt.Fprintf(tw, "%s %s\t%s\t%s\t%s\t%s\n", mark, kind, status, name, section, strings.Join(reasons, "; "))
	}
	unchanged := 0
	for _, fd := range res.Functions {
		if fd.Status == elfdiff.StatusUnchanged && !fd.Carry {
			unchanged++
		}
		row("func", fd.Name, fd.Section, fd.Status, fd.Carry, fd.Parent, fd.Reasons)
	}
	for _, dd := range res.Data {
		if dd.Status == elfdiff.StatusUnchanged && !dd.Carry {
			unchanged++
		}
		row("data", dd.Name, dd.Section, dd.Status, dd.Carry, "", dd.Reasons)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !all && unchanged > 0 {
		fmt.Fprintf(w, "  (%d unchanged symbols not shown; --all lists them)\n", unchanged)
	}
	fmt.Fprintf(w, "carry: %d functions (%s), %d data objects (%s)\n",
		len(res.Carry.Functions), displayJoin(res.Carry.Functions),
		len(res.Carry.Data), displayJoin(res.Carry.Data))
	if a := res.Authored; a != nil {
		for _, h := range a.Hooks {
			fmt.Fprintf(w, "hook: %s %s\n", h.Kind, elfdiff.Display(h.Function))
		}
		for _, f := range a.IgnoredFunctions {
			fmt.Fprintf(w, "ignored: function %s\n", elfdiff.Display(f))
		}
		for _, s := range a.IgnoredSections {
			fmt.Fprintf(w, "ignored: section %s\n", s)
		}
		for _, f := range a.Forced {
			fmt.Fprintf(w, "force-unsafe: %s (not honoured: stacks are always checked)\n", elfdiff.Display(f))
		}
	}
	for _, r := range res.Refusals {
		fmt.Fprintf(w, "refused: %s [%s]: %s\n", elfdiff.Display(r.Symbol), r.Rule, r.Reason)
	}
	return nil
}

// displayJoin lists symbol names as elfdiff.Display shows them.
func displayJoin(names []string) string {
	shown := make([]string, len(names))
	for i, n := range names {
		shown[i] = elfdiff.Display(n)
	}
	return strings.Join(shown, ", ")
}
