package cli

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ksplice-go/ksplice/internal/apply"
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
			fmt.Fprintln(tw, "ID\tSTAGE\tAPPLIED\tTARGETS\tFUNCTIONS\tDESCRIPTION")
			for _, r := range recs {
				var targets, funcs []string
				for _, t := range r.Targets {
					targets = append(targets, t.Name)
					for _, f := range t.Functions {
						funcs = append(funcs, f.Name)
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Stage, r.Applied.Format("2006-01-02 15:04:05"),
					strings.Join(targets, ","), strings.Join(funcs, ","), r.Description)
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
