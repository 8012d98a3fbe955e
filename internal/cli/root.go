package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"
)

// Version is the ksplice version, set at link time by the Makefile.
var Version = "dev"

// Streams are the standard streams a command reads and writes. Tests inject
// buffers; Main uses the process's own.
type Streams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// SystemStreams returns the process's standard streams.
func SystemStreams() Streams {
	return Streams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
}

// Main runs ksplice with args and returns the process exit code. Errors are
// printed once, here, as "ksplice: <message>".
//
// SIGINT or SIGTERM cancels the command's context: builds and guests are
// stopped, temporary trees removed and no output is left half written;
// the command then exits 128+signal, as a shell reports a process the
// signal killed. A second signal kills ksplice at once. apply and undo
// finish what they started: the kernel gets a whole update or none.
func Main(args []string, s Streams) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	var got atomic.Value // the signal that cancelled ctx
	go func() {
		select {
		case sig := <-sigs:
			got.Store(sig)
			signal.Stop(sigs) // the next one takes its default action
			cancel()
		case <-ctx.Done():
		}
	}()

	root := NewRootCmd(s)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if sig, ok := got.Load().(syscall.Signal); ok && err != nil {
		fmt.Fprintf(s.ErrOut, "ksplice: stopped by %v: %v\n", sig, err)
		return 128 + int(sig)
	}
	if err != nil {
		var se *statusError
		if !errors.As(err, &se) || se.msg != "" {
			fmt.Fprintf(s.ErrOut, "ksplice: %v\n", err)
		}
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(s.ErrOut, "Run 'ksplice --help' for usage.")
		}
	}
	return exitCode(err)
}

// NewRootCmd builds the command tree. Only commands that work are added.
func NewRootCmd(s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "ksplice",
		Short: "Rebootless Linux kernel updates from a unified diff",
		Long: `ksplice turns a unified diff against the source of a running kernel into an
update that is applied to that kernel in memory, without a reboot, and can be
undone.

The lab boots real distribution kernels in QEMU, so that an update can be
tried on the exact kernel it is meant for before it is rolled out.`,
		Version:       Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{err}
	})

	root.AddCommand(
		newApplyCmd(s),
		newCreateCmd(s),
		newInspectCmd(s),
		newLabCmd(s),
		newListCmd(s),
		newUndoCmd(s),
		newDiffCmd(s),
		newUnameCmd(s),
		newPublishCmd(s),
		newUpgradeCmd(s),
		newShowCmd(s),
		newKeygenCmd(s),
		newSignCmd(s),
	)
	return root
}

// exactArgs is cobra.ExactArgs with the error marked as a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

// minArgs is cobra.MinimumNArgs with the error marked as a usage error.
func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MinimumNArgs(n)(cmd, args); err != nil {
			return &usageError{err}
		}
		return nil
	}
}

// writeJSON writes v as indented JSON followed by a newline.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // demangled Rust names: "<T as Trait>::f"
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
