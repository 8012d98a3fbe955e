package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ksplice-go/ksplice/internal/apply"
)

type undoOptions struct {
	StateDir string
	JSON     bool
	All      bool
	ID       string
}

func newUndoCmd(s Streams) *cobra.Command {
	opts := &undoOptions{}
	cmd := &cobra.Command{
		Use:   "undo [--json] (ID | --all)",
		Short: "Reverse an applied update",
		Long: `Reverse an applied update: the engine checks that no task is running the
new code and that its jumps are intact, restores the original bytes in one
stop_machine, and the update's module is unloaded.

Updates that replace the same function stack: they are undone last in,
first out, and undoing an older one first is refused (exit 3) with the
reason. --all undoes every applied update, newest first.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.All && len(args) == 0 || !opts.All && len(args) == 1 {
				return nil
			}
			return &usageError{errors.New("undo: give one update ID, or --all")}
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.ID = args[0]
			}
			return runUndo(opts, s)
		},
	}
	cmd.Flags().StringVar(&opts.StateDir, "state-dir", apply.DefaultStateDir, "where applied updates are recorded")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	cmd.Flags().BoolVar(&opts.All, "all", false, "undo every applied update, newest first")
	return cmd
}

func runUndo(opts *undoOptions, s Streams) error {
	ao := apply.Options{StateDir: opts.StateDir, Log: s.ErrOut}
	ids := []string{opts.ID}
	if opts.All {
		recs, err := apply.List(ao)
		if err != nil {
			return err
		}
		ids = ids[:0]
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
	}
	var done []*apply.Record
	for _, id := range ids {
		rec, err := apply.Undo(id, ao)
		if err != nil {
			if opts.JSON {
				writeJSON(s.Out, done)
			}
			return err
		}
		done = append(done, rec)
		if !opts.JSON {
			fmt.Fprintf(s.Out, "undone %s: %s\n", rec.ID, rec.Description)
		}
	}
	if opts.JSON {
		if done == nil {
			done = []*apply.Record{}
		}
		return writeJSON(s.Out, done)
	}
	if len(ids) == 0 {
		fmt.Fprintln(s.Out, "no updates applied")
	}
	return nil
}
