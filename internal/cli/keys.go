package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/ksplice-go/ksplice/internal/repo"
	"github.com/ksplice-go/ksplice/internal/sign"
)

// keyPasswordEnv holds the password of an encrypted private key, so that a
// CI pipeline can pass it from its secret store without a terminal.
const keyPasswordEnv = "KSPLICE_KEY_PASSWORD"

// indexSigner reads the private key in keyFile and returns the signer for
// a repository's index, a verifier that trusts only that key's public half
// (to check the index already there before signing over it), and the key's
// id.
func indexSigner(keyFile string) (repo.Signer, repo.Verifier, string, error) {
	priv, err := sign.ReadPrivateKeyFile(keyFile, os.Getenv(keyPasswordEnv))
	if err != nil {
		return nil, nil, "", fmt.Errorf("signing key: %w", err)
	}
	pub := []sign.PublicKey{priv.Public()}
	signer := func(msg []byte) ([]byte, error) { return sign.Sign(priv, msg) }
	verifier := func(msg, sig []byte) (string, error) { return sign.Verify(pub, msg, sig) }
	return signer, verifier, priv.ID(), nil
}

// trustedVerifier returns a verifier against the public keys in dir. A
// missing directory trusts no key, so that every signature is refused as
// untrusted, naming its key.
func trustedVerifier(dir string) (repo.Verifier, error) {
	trusted, err := sign.LoadTrusted(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("trusted keys: %w", err)
	}
	return func(msg, sig []byte) (string, error) { return sign.Verify(trusted, msg, sig) }, nil
}
