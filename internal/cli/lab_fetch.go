package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/lab"
)

type labFetchOptions struct {
	Spec  string
	Cache string
	JSON  bool
	Jobs  int
}

func newLabFetchCmd(s Streams) *cobra.Command {
	opts := &labFetchOptions{}
	cmd := &cobra.Command{
		Use:   "fetch DISTRO:RELEASE",
		Short: "Download and prepare a kernel: image, headers, configured source tree",
		Long: `Download a distribution kernel and prepare it in the cache:

  - the kernel image and its modules,
  - the matching headers and kbuild tools in one root, for building modules
    with make -C HEADERS M=DIR modules,
  - the matching kernel source, configured exactly like the image
    (make olddefconfig prepare, same gcc), for building single objects,
  - busybox, for the guest's initramfs.

Fetching again is quick: prepared kernels are reused. Concurrent fetches of
the same kernel wait for each other.`,
		Example: `  ksplice lab fetch debian:6.1.0-55-amd64
  ksplice lab fetch --json debian:6.1.0-55-amd64 | jq -r .headers`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Spec = args[0]
			return runLabFetch(cmd.Context(), opts, s)
		},
	}
	cmd.Flags().StringVar(&opts.Cache, "cache", "", "cache directory (default $KSPLICE_CACHE or "+kbuild.DefaultCacheDir+")")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the prepared kernel as JSON")
	cmd.Flags().IntVarP(&opts.Jobs, "jobs", "j", 2, "parallel make jobs when preparing the source tree")
	return cmd
}

func runLabFetch(ctx context.Context, opts *labFetchOptions, s Streams) error {
	spec, err := lab.ParseSpec(opts.Spec)
	if err != nil {
		return err
	}
	k, err := lab.Fetch(ctx, spec, lab.FetchOptions{CacheDir: opts.Cache, Log: s.ErrOut, Jobs: opts.Jobs})
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(s.Out, k)
	}
	printKernel(s.Out, k)
	return nil
}

func printKernel(w io.Writer, k *kbuild.Kernel) {
	fmt.Fprintf(w, "kernel   %s (%s %s)\n", k.Spec, k.Arch, k.Version)
	fmt.Fprintf(w, "image    %s\n", k.Image)
	fmt.Fprintf(w, "headers  %s\n", k.Headers)
	fmt.Fprintf(w, "source   %s\n", k.Source)
	fmt.Fprintf(w, "build    %s\n", k.Build)
	fmt.Fprintf(w, "compiler %s (host: %s)\n", k.Compiler, k.HostCompiler)
}
