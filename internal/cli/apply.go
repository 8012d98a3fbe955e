package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ksplice-go/ksplice/internal/apply"
	"github.com/ksplice-go/ksplice/internal/update"
)

type applyOptions struct {
	StateDir string
	JSON     bool
	File     string
}

func newApplyCmd(s Streams) *cobra.Command {
	opts := &applyOptions{}
	cmd := &cobra.Command{
		Use:   "apply [--json] UPDATE.tar",
		Short: "Apply an update to the running kernel",
		Long: `Apply an update made by ksplice create to the running kernel, in memory.

The tarball is verified first (format version, sha256 of every file, kernel
release and machine against uname). The engine module is loaded if needed,
then the update module; the engine finds every function to replace in the
running kernel by its code (run-pre matching), checks in one stop_machine
that no task is running any of them, and writes a jump at each. Anything
short of complete success is rolled back: the kernel is left as it was.

Exit codes: 0 applied (or already applied), 1 error, 3 refused by the
kernel (the reason names the function, offset or task).`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			return runApply(opts, s)
		},
	}
	cmd.Flags().StringVar(&opts.StateDir, "state-dir", apply.DefaultStateDir, "where applied updates are recorded")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	return cmd
}

func runApply(opts *applyOptions, s Streams) error {
	rec, already, err := applyUpdateFile(opts.File, opts.StateDir, "", false, s.ErrOut)
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(s.Out, struct {
			*apply.Record
			AlreadyApplied bool `json:"already_applied"`
		}{rec, already})
	}
	if already {
		fmt.Fprintf(s.Out, "%s is already applied\n", rec.ID)
		return nil
	}
	fmt.Fprintf(s.Out, "applied %s: %s\n", rec.ID, rec.Description)
	printTargets(s.Out, rec.Targets)
	for _, t := range rec.Targets {
		fmt.Fprintf(s.Out, "stop_machine (%s): %.3f ms\n", t.Name, float64(rec.StopMachineNs[t.Name])/1e6)
	}
	return nil
}

func printTargets(w io.Writer, ts []update.Target) {
	for _, t := range ts {
		var names []string
		for _, f := range t.Functions {
			names = append(names, f.Name)
		}
		if len(names) == 0 {
			names = []string{"(hooks only)"}
		}
		fmt.Fprintf(w, "  %s: %s\n", t.Name, strings.Join(names, " "))
	}
}

// applyUpdateFile is ksplice apply: it reads and verifies the tarball at
// name and applies it. upgrade applies through it too, so that an update
// from a repository passes exactly the checks of one applied by hand.
// already says the update was applied before (err is then nil).
func applyUpdateFile(name, stateDir, keysDir string, allowUnsigned bool, log io.Writer) (rec *apply.Record, already bool, err error) {
	u, err := update.ReadFile(name)
	if err != nil {
		return nil, false, err
	}
	rec, err = apply.Apply(u, apply.Options{StateDir: stateDir, Log: log})
	if errors.Is(err, apply.ErrAlreadyApplied) {
		return rec, true, nil
	}
	return rec, false, err
}
