package cli

import (
	"github.com/spf13/cobra"
)

func newLabCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Fetch real distribution kernels and run commands in them under QEMU",
		Long: `The lab boots real distribution kernels in QEMU, so that an update can be
tried on the exact kernel it is meant for before it is rolled out.

Kernels are named DISTRO:RELEASE, e.g. debian:6.1.0-55-amd64, and are
downloaded and prepared into the cache (default /var/cache/ksplice, or
$KSPLICE_CACHE, or --cache).`,
	}
	cmd.AddCommand(newLabFetchCmd(s), newLabRunCmd(s))
	return cmd
}
