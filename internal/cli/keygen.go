package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/ksplice-go/ksplice/internal/sign"
)

// PasswordEnv names the environment variable that holds the password of
// an encrypted signing key (keygen --encrypt, create --sign, sign --key).
const PasswordEnv = "KSPLICE_KEY_PASSWORD"

type keygenOptions struct {
	Output  string
	Comment string
	Encrypt bool
	JSON    bool
}

func newKeygenCmd(s Streams) *cobra.Command {
	opts := &keygenOptions{}
	cmd := &cobra.Command{
		Use:   "keygen [-o PREFIX] [--comment TEXT] [--encrypt]",
		Short: "Make a key pair to sign updates with",
		Long: `Make an Ed25519 key pair in minisign's formats: PREFIX.key, the secret key
(mode 0600; keep it where updates are built and signed), and PREFIX.pub,
the public key, which machines that apply updates trust by holding it in
` + sign.DefaultTrustedDir + `/. Existing files are never overwritten.

The secret key is unencrypted unless --encrypt, which encrypts it with the
password in $` + PasswordEnv + ` (as minisign does: scrypt); create --sign
and sign --key read the password from there too. The minisign tool reads
and writes the same files (minisign -V verifies ksplice's signatures).`,
		Example: `  ksplice keygen -o fleet --comment "fleet updates 2026"
  install -m 644 fleet.pub /etc/ksplice/keys.d/fleet.pub   # on each machine
  ksplice create --sign fleet.key fix.diff`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error { return runKeygen(opts, s) },
	}
	f := cmd.Flags()
	f.StringVarP(&opts.Output, "output", "o", "ksplice", "write PREFIX.key and PREFIX.pub")
	f.StringVar(&opts.Comment, "comment", "", "one line labelling the key files (not signed)")
	f.BoolVar(&opts.Encrypt, "encrypt", false, "encrypt the secret key with the password in $"+PasswordEnv)
	f.BoolVar(&opts.JSON, "json", false, "print the key id and file names as JSON")
	return cmd
}

func runKeygen(opts *keygenOptions, s Streams) error {
	password := ""
	if opts.Encrypt {
		if password = os.Getenv(PasswordEnv); password == "" {
			return &usageError{errors.New("keygen --encrypt: set $" + PasswordEnv + " to the password")}
		}
	}
	priv, pub, err := sign.GenerateKey(opts.Comment)
	if err != nil {
		return err
	}
	sk, pk := opts.Output+".key", opts.Output+".pub"
	if err := sign.WriteKeyFiles(sk, pk, priv, password); err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(s.Out, struct {
			KeyID     string `json:"key_id"`
			Secret    string `json:"secret_key"`
			Public    string `json:"public_key"`
			Encrypted bool   `json:"encrypted"`
		}{pub.ID(), sk, pk, opts.Encrypt})
	}
	fmt.Fprintf(s.Out, "key %s\nsecret key %s (keep it private)\npublic key %s (install it as %s/NAME.pub where updates are applied)\n",
		pub.ID(), sk, pk, sign.DefaultTrustedDir)
	return nil
}

// readSigningKey reads a secret key file for signing, with the password
// in $KSPLICE_KEY_PASSWORD if it is encrypted.
func readSigningKey(name string) (*sign.PrivateKey, error) {
	k, err := sign.ReadPrivateKeyFile(name, os.Getenv(PasswordEnv))
	if errors.Is(err, sign.ErrPassword) {
		return nil, fmt.Errorf("%w (the password is read from $%s)", err, PasswordEnv)
	}
	if err != nil {
		return nil, err
	}
	return &k, nil
}
