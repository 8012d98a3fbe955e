package cli

import (
	"fmt"

	"github.com/google/renameio/v2"
	"github.com/spf13/cobra"

	"github.com/ksplice-go/ksplice/internal/update"
)

type signOptions struct {
	Key    string
	Output string
	File   string
}

func newSignCmd(s Streams) *cobra.Command {
	opts := &signOptions{}
	cmd := &cobra.Command{
		Use:   "sign --key KEY [-o OUT] UPDATE.tar",
		Short: "Sign an update (or sign it again with another key)",
		Long: `Sign the manifest of an update with a secret key made by ksplice keygen (or
minisign -G), replacing any signature it had: the same as create --sign, for
pipelines that build updates in one place and sign them in another. The
manifest carries the sha256 of every other file, so its signature covers
the whole update. The tarball is verified first, and rewritten in place
unless -o.`,
		Example: `  ksplice sign --key fleet.key ksplice-demo.tar`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			return runSign(opts, s)
		},
	}
	cmd.Flags().StringVar(&opts.Key, "key", "", "secret key file (required; password in $"+PasswordEnv+" if encrypted)")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "write the signed update here (default: in place)")
	return cmd
}

func runSign(opts *signOptions, s Streams) error {
	if opts.Key == "" {
		return &usageError{fmt.Errorf("sign: --key KEY is required")}
	}
	key, err := readSigningKey(opts.Key)
	if err != nil {
		return err
	}
	u, err := update.ReadFile(opts.File)
	if err != nil {
		return err
	}
	b, err := update.Resign(u, *key)
	if err != nil {
		return err
	}
	out := opts.Output
	if out == "" {
		out = opts.File
	}
	if err := renameio.WriteFile(out, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "signed %s with key %s: %s\n", u.Manifest.ID, key.ID(), out)
	return nil
}
