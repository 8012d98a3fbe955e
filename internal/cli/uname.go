package cli

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ksplice-go/ksplice/internal/apply"
)

type unameOptions struct {
	StateDir string
	Release  bool
}

func newUnameCmd(s Streams) *cobra.Command {
	opts := &unameOptions{}
	cmd := &cobra.Command{
		Use:   "uname -r",
		Short: "Print the kernel release in effect, counting applied upgrades",
		Long: `Print the release of the kernel that the running kernel's code now
corresponds to: the running release, or, once the cumulative update of a
distribution release (create --upgrade-to) is applied, that release's
kernel (e.g. 6.1.0-54-amd64 for Debian's 6.1.190-1). Scripts that decide
from uname -r whether a machine has a fix can ask this instead.

Only a cumulative update counts: the updates of single files bring part
of a release. ksplice list shows how much of it each update brings.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !opts.Release {
				return &usageError{fmt.Errorf("uname: only -r is supported")}
			}
			b, err := os.ReadFile("/proc/sys/kernel/osrelease")
			if err != nil {
				return fmt.Errorf("the running kernel's release: %w", err)
			}
			recs, err := apply.List(apply.Options{StateDir: opts.StateDir})
			if err != nil {
				return err
			}
			fmt.Fprintln(s.Out, effectiveRelease(strings.TrimSpace(string(b)), recs))
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.StateDir, "state-dir", apply.DefaultStateDir, "where applied updates are recorded")
	cmd.Flags().BoolVarP(&opts.Release, "kernel-release", "r", false, "print the kernel release in effect")
	return cmd
}

// effectiveRelease is the release the running kernel is brought to by the
// newest applied cumulative upgrade whose release is known, else running.
// An update the kernel does not have applied (a record that disagrees)
// does not count, nor one undone whose module the engine kept loaded
// (apply.StageKept): its code no longer runs.
func effectiveRelease(running string, recs []*apply.Record) string {
	var ups []*apply.Record
	for _, r := range recs {
		if r.Upgrade != nil && r.Upgrade.Cumulative && r.Upgrade.Release != "" && r.Disagreement == "" && r.Kernel == running && r.Stage != apply.StageKept {
			ups = append(ups, r)
		}
	}
	if len(ups) == 0 {
		return running
	}
	sort.Slice(ups, func(i, j int) bool { return ups[i].Seq > ups[j].Seq })
	return ups[0].Upgrade.Release
}
