package sign

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"aead.dev/minisign"
	"github.com/google/renameio/v2"

	"github.com/ksplice-go/ksplice/internal/verdict"
)

// DefaultTrustedDir holds the public keys apply trusts, one *.pub file each.
const DefaultTrustedDir = "/etc/ksplice/keys.d"

var (
	// ErrUnsigned means there is no signature to verify.
	ErrUnsigned = fmt.Errorf("%w: not signed", verdict.ErrRefused)
	// ErrBadSignature means the signature is malformed, or does not
	// verify with the key it names: the signed bytes were changed after
	// signing, or the signature is not theirs.
	ErrBadSignature = fmt.Errorf("%w: bad signature", verdict.ErrRefused)
	// ErrUntrustedKey means the signature names a key that no trusted
	// key file holds.
	ErrUntrustedKey = fmt.Errorf("%w: untrusted key", verdict.ErrRefused)
	// ErrKeyFormat means a key file is not a minisign key.
	ErrKeyFormat = errors.New("not a minisign key")
	// ErrPassword means a private key is encrypted and the password is
	// missing or wrong.
	ErrPassword = errors.New("private key is encrypted: password missing or wrong")
)

// KeyError is a refusal about the signature of one key; it unwraps to
// ErrBadSignature or ErrUntrustedKey.
type KeyError struct {
	KeyID string // the key id the signature names, as KeyID formats it
	Err   error  // ErrBadSignature or ErrUntrustedKey
	// Detail says more, such as how many keys are trusted.
	Detail string
}

func (e *KeyError) Error() string {
	s := fmt.Sprintf("%v (key %s)", e.Err, e.KeyID)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

func (e *KeyError) Unwrap() error { return e.Err }

// KeyID formats a minisign key id the way the minisign tool prints it:
// the 64-bit little-endian key number in upper-case hex, 16 digits (older
// minisign releases drop leading zeros).
func KeyID(id uint64) string { return fmt.Sprintf("%016X", id) }

// PublicKey is a minisign public key and the comment of its file.
type PublicKey struct {
	key minisign.PublicKey
	// Comment is the untrusted comment line of the key file, without
	// its "untrusted comment: " prefix. It is not signed: a label only.
	Comment string
	// File is where LoadTrusted or ReadPublicKeyFile read it, if anywhere.
	File string
}

// ID is the key's id, as KeyID formats it.
func (p PublicKey) ID() string { return KeyID(p.key.ID()) }

// Equal reports whether p and q are the same key (comments aside).
func (p PublicKey) Equal(q PublicKey) bool { return p.key.Equal(q.key) }

// MarshalText returns the key in minisign's public key file format: an
// untrusted comment line, then the base64 key.
func (p PublicKey) MarshalText() ([]byte, error) {
	return []byte("untrusted comment: " + commentLine(p.Comment, "minisign public key "+p.ID()) + "\n" + p.key.String() + "\n"), nil
}

// PrivateKey is a minisign private key and the comment of its file.
type PrivateKey struct {
	key     minisign.PrivateKey
	Comment string
}

// ID is the key's id, as KeyID formats it.
func (p PrivateKey) ID() string { return KeyID(p.key.ID()) }

// Public returns the public half of p, with p's comment.
func (p PrivateKey) Public() PublicKey {
	return PublicKey{key: p.key.Public().(minisign.PublicKey), Comment: p.Comment}
}

func commentLine(comment, dflt string) string {
	if comment == "" {
		return dflt
	}
	return comment
}

func validComment(c string) error {
	if strings.ContainsAny(c, "\r\n") {
		return fmt.Errorf("key comment %q: must be one line", c)
	}
	return nil
}

// GenerateKey makes a new key pair from the system's random source.
// comment labels both key files (one line; it is not signed).
func GenerateKey(comment string) (PrivateKey, PublicKey, error) {
	if err := validComment(comment); err != nil {
		return PrivateKey{}, PublicKey{}, err
	}
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return PrivateKey{}, PublicKey{}, fmt.Errorf("generate key: %w", err)
	}
	return PrivateKey{key: priv, Comment: comment}, PublicKey{key: pub, Comment: comment}, nil
}

// MarshalPrivateKey returns p in minisign's secret key file format,
// encrypted with password (scrypt and XOR, as minisign does) or, when
// password is empty, unencrypted (as `minisign -G -W` writes).
func MarshalPrivateKey(p PrivateKey, password string) ([]byte, error) {
	var b []byte
	var err error
	if password == "" {
		b, err = p.key.MarshalText()
	} else {
		b, err = minisign.EncryptKey(password, p.key)
	}
	if err != nil {
		return nil, fmt.Errorf("marshal private key: %w", err)
	}
	// Both forms start with minisign's own comment line; put ours there.
	_, body, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return nil, fmt.Errorf("marshal private key: unexpected form")
	}
	line := "untrusted comment: " + commentLine(p.Comment, "minisign secret key "+p.ID()) + "\n"
	return append([]byte(line), append(bytes.TrimSpace(body), '\n')...), nil
}

// splitComment returns the text after "untrusted comment: " on the first
// line of b, if there is one, and the rest.
func splitComment(b []byte) (string, []byte) {
	first, rest, _ := bytes.Cut(b, []byte("\n"))
	c, ok := strings.CutPrefix(strings.TrimRight(string(first), "\r"), "untrusted comment: ")
	if !ok {
		return "", b
	}
	return c, rest
}

// ParsePrivateKey reads a minisign secret key file's contents, decrypting
// it with password if it is encrypted. Errors wrap ErrKeyFormat or
// ErrPassword.
func ParsePrivateKey(b []byte, password string) (PrivateKey, error) {
	comment, body := splitComment(b)
	body = bytes.TrimSpace(body)
	var k minisign.PrivateKey
	if minisign.IsEncrypted(body) {
		if password == "" {
			return PrivateKey{}, ErrPassword
		}
		var err error
		if k, err = minisign.DecryptKey(password, body); err != nil {
			return PrivateKey{}, fmt.Errorf("%w (%v)", ErrPassword, err)
		}
	} else if err := k.UnmarshalText(body); err != nil {
		return PrivateKey{}, fmt.Errorf("%w: %v", ErrKeyFormat, err)
	}
	return PrivateKey{key: k, Comment: comment}, nil
}

// ParsePublicKey reads a minisign public key file's contents. Errors wrap
// ErrKeyFormat.
func ParsePublicKey(b []byte) (PublicKey, error) {
	comment, body := splitComment(b)
	var k minisign.PublicKey
	if err := k.UnmarshalText(bytes.TrimSpace(body)); err != nil {
		return PublicKey{}, fmt.Errorf("%w: %v", ErrKeyFormat, err)
	}
	return PublicKey{key: k, Comment: comment}, nil
}

// ReadPrivateKeyFile reads the secret key file at name (see
// ParsePrivateKey).
func ReadPrivateKeyFile(name, password string) (PrivateKey, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return PrivateKey{}, err
	}
	k, err := ParsePrivateKey(b, password)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("%s: %w", name, err)
	}
	return k, nil
}

// ReadPublicKeyFile reads the public key file at name.
func ReadPublicKeyFile(name string) (PublicKey, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return PublicKey{}, err
	}
	k, err := ParsePublicKey(b)
	if err != nil {
		return PublicKey{}, fmt.Errorf("%s: %w", name, err)
	}
	k.File = name
	return k, nil
}

// WriteKeyFiles writes priv to privName (mode 0600, encrypted with
// password unless it is empty) and its public key to pubName (mode 0644),
// each atomically. It refuses to overwrite an existing file.
func WriteKeyFiles(privName, pubName string, priv PrivateKey, password string) error {
	for _, n := range []string{privName, pubName} {
		if _, err := os.Lstat(n); err == nil {
			return fmt.Errorf("write key: %s exists (remove it first: keys are not overwritten)", n)
		}
	}
	sb, err := MarshalPrivateKey(priv, password)
	if err != nil {
		return err
	}
	pb, _ := priv.Public().MarshalText()
	if err := renameio.WriteFile(privName, sb, 0o600); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if err := renameio.WriteFile(pubName, pb, 0o644); err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	return nil
}

// Sign signs msg with priv and returns the signature in minisign's
// signature file format (a .minisig file's contents): prehashed Ed25519
// (BLAKE2b-512, minisign's default), with the time of signing as the
// signed ("trusted") comment, so that `minisign -Vm FILE -p KEY.pub`
// verifies it too.
func Sign(priv PrivateKey, msg []byte) ([]byte, error) {
	// The Reader hashes what passes through it: minisign's prehashed mode.
	r := minisign.NewReader(bytes.NewReader(msg))
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	trusted := "timestamp:" + strconv.FormatInt(time.Now().Unix(), 10)
	untrusted := "signature from ksplice key " + priv.ID()
	return r.SignWithComments(priv.key, trusted, untrusted), nil
}

// SignatureKeyID returns the id of the key sig names, without verifying
// anything. Errors wrap ErrUnsigned or ErrBadSignature.
func SignatureKeyID(sig []byte) (string, error) {
	if len(bytes.TrimSpace(sig)) == 0 {
		return "", ErrUnsigned
	}
	var s minisign.Signature
	if err := s.UnmarshalText(sig); err != nil {
		return "", fmt.Errorf("%w: malformed (%v)", ErrBadSignature, err)
	}
	return KeyID(s.KeyID), nil
}

// Verify checks that sig is a signature of msg by one of the trusted
// keys, and returns that key's id. Errors wrap ErrUnsigned (sig is
// empty), ErrBadSignature (malformed, or made by the key it names over
// other bytes) or ErrUntrustedKey (no trusted key has the id it names);
// the last two as a *KeyError naming the id.
func Verify(trusted []PublicKey, msg, sig []byte) (keyID string, err error) {
	id, err := SignatureKeyID(sig)
	if err != nil {
		return "", err
	}
	for _, k := range trusted {
		if k.ID() != id {
			continue
		}
		if !minisign.Verify(k.key, msg, sig) {
			return id, &KeyError{KeyID: id, Err: ErrBadSignature,
				Detail: "the signed bytes changed after signing, or the signature is not theirs"}
		}
		return id, nil
	}
	return id, &KeyError{KeyID: id, Err: ErrUntrustedKey,
		Detail: fmt.Sprintf("none of the %d trusted keys has this id", len(trusted))}
}

// LoadTrusted reads the public keys in dir, one per *.pub file (other
// files are not keys: a README, a dpkg backup), in name order. A missing
// directory trusts no key. A file that is not a minisign public key, or
// two files holding different keys with one id, is an error.
func LoadTrusted(dir string) ([]PublicKey, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.pub"))
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("trusted keys: %w", err)
	}
	sort.Strings(names)
	var keys []PublicKey
	seen := map[string]PublicKey{}
	for _, n := range names {
		k, err := ReadPublicKeyFile(n)
		if err != nil {
			return nil, fmt.Errorf("trusted keys: %w", err)
		}
		if prev, ok := seen[k.ID()]; ok {
			if !prev.Equal(k) {
				return nil, fmt.Errorf("trusted keys: %s and %s hold different keys with the same id %s", prev.File, n, k.ID())
			}
			continue
		}
		seen[k.ID()] = k
		keys = append(keys, k)
	}
	return keys, nil
}
