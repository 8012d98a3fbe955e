package cli

import "github.com/spf13/cobra"

func newLabCmd(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Fetch real distribution kernels and run commands in them under QEMU",
	}
	return cmd
}
