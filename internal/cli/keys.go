package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/ksplice-go/ksplice/internal/repo"
	"github.com/ksplice-go/ksplice/internal/sign"
)

// indexSigner reads the secret key in keyFile (see readSigningKey) and
// returns the signer of a repository's index, a verifier that trusts only
// that key's public half (to check the index already there before signing
// over it), and the key's id.
func indexSigner(keyFile string) (repo.Signer, repo.Verifier, string, error) {
	priv, err := readSigningKey(keyFile)
	if err != nil {
		return nil, nil, "", fmt.Errorf("signing key: %w", err)
	}
	pub := []sign.PublicKey{priv.Public()}
	signer := func(msg []byte) ([]byte, error) { return sign.Sign(*priv, msg) }
	verifier := func(msg, sig []byte) (string, error) { return sign.Verify(pub, msg, sig) }
	return signer, verifier, priv.ID(), nil
}

// trustedVerifier returns a verifier of a repository's index against the
// public keys in dir (a missing directory trusts no key). With
// allowUntrusted, as apply's --allow-unsigned, an index signed by a key
// that is not trusted is accepted with a warning on warn, as not verified;
// a signature that does not verify is refused all the same.
func trustedVerifier(dir string, allowUntrusted bool, warn io.Writer) (repo.Verifier, error) {
	trusted, err := sign.LoadTrusted(dir)
	if err != nil {
		return nil, err
	}
	return func(msg, sig []byte) (string, error) {
		id, err := sign.Verify(trusted, msg, sig)
		if err != nil && allowUntrusted && errors.Is(err, sign.ErrUntrustedKey) {
			fmt.Fprintf(warn, "ksplice: warning: repository index: %v; using it anyway (--allow-unsigned)\n", err)
			return "", nil
		}
		if err != nil && errors.Is(err, sign.ErrUntrustedKey) {
			return id, fmt.Errorf("%w: install that key's public key in %s if you trust it (%d keys trusted now), or pass --allow-unsigned", err, dir, len(trusted))
		}
		return id, err
	}, nil
}
