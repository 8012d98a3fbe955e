package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ksplice-go/ksplice/internal/apply"
	"github.com/ksplice-go/ksplice/internal/kmod"
	"github.com/ksplice-go/ksplice/internal/sign"
	"github.com/ksplice-go/ksplice/internal/update"
)

type applyOptions struct {
	StateDir      string
	KeysDir       string
	AllowUnsigned bool
	Boot          bool
	JSON          bool
	File          string
}

func newApplyCmd(s Streams) *cobra.Command {
	opts := &applyOptions{}
	cmd := &cobra.Command{
		Use:   "apply [--json] [--allow-unsigned] (UPDATE.tar | --boot)",
		Short: "Apply an update to the running kernel",
		Long: `Apply an update made by ksplice create to the running kernel, in memory.

The tarball is verified first: format version, sha256 of every file, kernel
release and machine against uname, and its signature, which must be made by
a key whose public key is in --keys (` + sign.DefaultTrustedDir + `, one
minisign .pub file per key). An unsigned update, or one signed by a key that
is not trusted, is refused (exit 3, naming the key id) unless
--allow-unsigned; a signature that does not verify is always refused. On a
kernel that only loads signed modules (module.sig_enforce=1, lockdown), an
update whose modules carry no signature is refused before anything is
loaded.

The engine module is loaded if needed, then the update module; the engine
finds every function to replace in the running kernel by its code (run-pre
matching), checks in one stop_machine that no task is running any of them,
and switches their calls to the new code. Anything short of complete success
is rolled back: the kernel is left as it was. The update is recorded, with a
copy of the tarball, in --state-dir.

--boot re-applies, in the order they were first applied, the recorded
updates whose kernel is the running one, each verified again; updates
recorded for another kernel are skipped and reported (ksplice.service runs
it at boot).

Exit codes: 0 applied (or already applied), 1 error, 3 refused (by the
signature check or the kernel: the reason names the key, function, offset
or task).`,
		Example: `  ksplice apply ksplice-demo.tar
  ksplice apply --allow-unsigned ksplice-demo.tar   # a test update, unsigned
  ksplice apply --boot --json                       # what ksplice.service runs`,
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.Boot {
				return exactArgs(0)(cmd, args)
			}
			return exactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Boot {
				return runApplyBoot(opts, s)
			}
			opts.File = args[0]
			return runApply(opts, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.StateDir, "state-dir", apply.DefaultStateDir, "where applied updates are recorded")
	f.StringVar(&opts.KeysDir, "keys", sign.DefaultTrustedDir, "directory of trusted public keys (*.pub, minisign format)")
	f.BoolVar(&opts.AllowUnsigned, "allow-unsigned", false, "apply an unsigned update, or one signed by an untrusted key (with a warning)")
	f.BoolVar(&opts.Boot, "boot", false, "re-apply the updates recorded for the running kernel, in order (at boot)")
	f.BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	return cmd
}

func (opts *applyOptions) applyOptions(s Streams) (apply.Options, error) {
	trusted, err := sign.LoadTrusted(opts.KeysDir)
	if err != nil {
		return apply.Options{}, err
	}
	return apply.Options{StateDir: opts.StateDir, Log: s.ErrOut, Trusted: trusted, KeysDir: opts.KeysDir,
		AllowUnsigned: opts.AllowUnsigned}, nil
}

func runApply(opts *applyOptions, s Streams) error {
	ao, err := opts.applyOptions(s)
	if err != nil {
		return err
	}
	rec, already, err := applyUpdateFile(opts.File, ao)
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
	if rec.SignedBy != "" {
		fmt.Fprintf(s.Out, "  signed by key %s\n", rec.SignedBy)
	}
	printTargets(s.Out, rec.Targets)
	for _, t := range rec.Targets {
		fmt.Fprintf(s.Out, "stop_machine (%s): %.3f ms\n", t.Name, float64(rec.StopMachineNs[t.Name])/1e6)
	}
	return nil
}

func runApplyBoot(opts *applyOptions, s Streams) error {
	ao, err := opts.applyOptions(s)
	if err != nil {
		return err
	}
	release, _, err := kmod.Uname()
	if err != nil {
		return err
	}
	results, err := apply.Boot(ao)
	if results == nil {
		results = []apply.BootResult{}
	}
	if opts.JSON {
		if jerr := writeJSON(s.Out, struct {
			Kernel  string             `json:"kernel"`
			Updates []apply.BootResult `json:"updates"`
		}{release, results}); jerr != nil {
			return jerr
		}
		return err
	}
	fmt.Fprintf(s.Out, "kernel %s: %d updates recorded\n", release, len(results))
	for _, r := range results {
		line := fmt.Sprintf("  %-24s %-16s", r.ID, r.Result)
		switch {
		case r.Reason != "":
			line += " " + r.Reason
		case r.SignedBy != "":
			line += " signed by key " + r.SignedBy
		}
		fmt.Fprintln(s.Out, strings.TrimRight(line, " "))
	}
	return err
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
func applyUpdateFile(name string, ao apply.Options) (rec *apply.Record, already bool, err error) {
	u, err := update.ReadFile(name)
	if err != nil {
		return nil, false, err
	}
	rec, err = apply.Apply(u, ao)
	if errors.Is(err, apply.ErrAlreadyApplied) {
		return rec, true, nil
	}
	return rec, false, err
}
