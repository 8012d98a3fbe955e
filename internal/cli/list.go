package cli

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ksplice-go/ksplice/internal/apply"
	"github.com/ksplice-go/ksplice/internal/update"
)

type listOptions struct {
	StateDir string
	JSON     bool
}

func newListCmd(s Streams) *cobra.Command {
	opts := &listOptions{}
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List the updates applied to the running kernel, newest first",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			recs, err := apply.List(apply.Options{StateDir: opts.StateDir})
			if err != nil {
				return err
			}
			if opts.JSON {
				if recs == nil {
					recs = []*apply.Record{}
				}
				return writeJSON(s.Out, recs)
			}
			if len(recs) == 0 {
				fmt.Fprintln(s.Out, "no updates applied")
				return nil
			}
			tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTAGE\tAPPLIED\tTARGETS\tFUNCTIONS\tRELEASE\tDESCRIPTION")
			for _, r := range recs {
				var targets, funcs []string
				for _, t := range r.Targets {
					targets = append(targets, t.Name)
					for _, f := range t.Functions {
						funcs = append(funcs, functionLabel(f))
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Stage, r.Applied.Format("2006-01-02 15:04:05"),
					strings.Join(targets, ","), shortList(funcs, 4), upgradeOf(r.Upgrade), r.Description)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, r := range recs {
				for _, t := range r.Targets {
					if slices.Contains(r.Kept, t.Name) {
						fmt.Fprintf(s.Out, "%s: undone, module %s kept loaded: %s\n", r.ID, strings.TrimSuffix(t.Module, ".ko"), strings.Join(t.Keep, "; "))
					}
				}
			}
			for _, r := range recs {
				if r.Disagreement != "" {
					fmt.Fprintf(s.ErrOut, "ksplice: warning: %s: %s\n", r.ID, r.Disagreement)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.StateDir, "state-dir", apply.DefaultStateDir, "where applied updates are recorded")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	return cmd
}

// functionLabel names a function of an update in list's table, with the
// way the engine diverts it when that is not ftrace: "memchr_inv[jump]"
// for a function without an ftrace site, replaced by a direct jump.
func functionLabel(f update.Function) string {
	if f.Method == "" || f.Method == "ftrace" {
		return f.Name
	}
	return f.Name + "[" + f.Method + "]"
}

// methodNote is what create and show add to a replaced function's line
// when the engine diverts it by a direct jump: "" for ftrace.
func methodNote(f update.Function) string {
	if f.Method == "jump" {
		return " (direct jump: no ftrace site)"
	}
	return ""
}

// upgradeOf says which release an update brings and how much of it:
// "6.1.190-1: 41 of 47 changed files" for a cumulative update,
// "6.1.190-1: 1 changed file" for one of its parts, "-" for an update made
// from a patch.
func upgradeOf(u *update.Upgrade) string {
	switch {
	case u == nil:
		return "-"
	case u.Cumulative && u.Needed > 0:
		return fmt.Sprintf("%s: %d of %d changed files", u.To, u.Carried, u.Needed)
	case len(u.Files) == 1:
		return fmt.Sprintf("%s: 1 changed file", u.To)
	}
	return fmt.Sprintf("%s: %d changed files", u.To, len(u.Files))
}

// shortList joins at most n items, and says how many more there are.
func shortList(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ",")
	}
	return fmt.Sprintf("%s,... (%d)", strings.Join(items[:n], ","), len(items))
}
