// Package modsig reads and makes the signatures the kernel checks on
// modules (CONFIG_MODULE_SIG): a PKCS#7 message appended to the module,
// then a struct module_signature and the marker "~Module signature
// appended~\n" (the kernel's include/linux/module_signature.h). Signing
// runs the kernel's own scripts/sign-file, so the format is the kernel's
// by construction; this package only finds the tool and reads the trailer.
package modsig

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ksplice-go/ksplice/internal/run"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// Marker ends a signed module.
const Marker = "~Module signature appended~\n"

// idPKCS7 is module_signature.id_type for a PKCS#7 message, the only kind
// the kernel accepts for modules.
const idPKCS7 = 2

// trailerLen is sizeof(struct module_signature): algo, hash, id_type,
// signer_len, key_id_len, 3 bytes of padding, then sig_len (big-endian).
const trailerLen = 12

var (
	// ErrUnsigned means the module carries no signature.
	ErrUnsigned = errors.New("module is not signed")
	// ErrMalformed means the module's signature trailer is not the
	// kernel's format.
	ErrMalformed = errors.New("malformed module signature")
	// ErrNoSignFile means the kernel's scripts/sign-file is not there.
	ErrNoSignFile = fmt.Errorf("%w: the kernel's scripts/sign-file was not found", verdict.ErrUnsupported)
)

// Signature is the signature a module carries.
type Signature struct {
	// Content is the module without its signature: what is signed.
	Content []byte
	// PKCS7 is the DER signature message.
	PKCS7 []byte
}

// Parse returns the signature appended to the module image ko. Errors
// wrap ErrUnsigned or ErrMalformed.
func Parse(ko []byte) (*Signature, error) {
	if !bytes.HasSuffix(ko, []byte(Marker)) {
		return nil, ErrUnsigned
	}
	end := len(ko) - len(Marker)
	if end < trailerLen {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	t := ko[end-trailerLen : end]
	if t[2] != idPKCS7 {
		return nil, fmt.Errorf("%w: id_type %d, not PKCS#7 (%d)", ErrMalformed, t[2], idPKCS7)
	}
	if t[0] != 0 || t[1] != 0 || t[3] != 0 || t[4] != 0 {
		return nil, fmt.Errorf("%w: PKCS#7 signature with algo/hash/signer/key id fields set", ErrMalformed)
	}
	n := binary.BigEndian.Uint32(t[8:])
	if uint64(n) > uint64(end-trailerLen) || n == 0 {
		return nil, fmt.Errorf("%w: sig_len %d in a %d-byte module", ErrMalformed, n, len(ko))
	}
	start := end - trailerLen - int(n)
	return &Signature{Content: ko[:start], PKCS7: ko[start : end-trailerLen]}, nil
}

// FindSignFile returns the kernel's scripts/sign-file in the first of
// dirs (a headers tree, a build tree) that has it built. The error wraps
// ErrNoSignFile and says where it looked.
func FindSignFile(dirs ...string) (string, error) {
	var looked []string
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, "scripts", "sign-file")
		looked = append(looked, p)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (looked for %s; Debian's linux-kbuild package has it, or run make scripts in the kernel's build tree)", ErrNoSignFile, strings.Join(looked, ", "))
}

// HashAlgo returns CONFIG_MODULE_SIG_HASH of the kernel configuration at
// config ("sha256" for Debian's kernels): the digest the kernel's own
// modules are signed with.
func HashAlgo(config string) (string, error) {
	f, err := os.Open(config)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CONFIG_MODULE_SIG_HASH="); ok {
			return strings.Trim(v, `"`), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%w: %s has no CONFIG_MODULE_SIG_HASH: the kernel does not check module signatures", verdict.ErrUnsupported, config)
}

// Signer returns the subject of the X.509 certificate at cert (PEM or
// DER), as a person reads it: its common name, else the whole subject.
func Signer(cert string) (string, error) {
	b, err := os.ReadFile(cert)
	if err != nil {
		return "", err
	}
	if blk, _ := pem.Decode(b); blk != nil {
		b = blk.Bytes
	}
	c, err := x509.ParseCertificate(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", cert, err)
	}
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName, nil
	}
	return c.Subject.String(), nil
}

// Sign returns ko signed by signFile (the kernel's scripts/sign-file)
// with hash, the private key at key and its certificate cert. A module
// that is signed already is refused: sign-file would append a second
// signature that the kernel never reads.
func Sign(ctx context.Context, signFile, hash, key, cert string, ko []byte) ([]byte, error) {
	if _, err := Parse(ko); err == nil {
		return nil, fmt.Errorf("sign module: it is signed already")
	}
	dir, err := os.MkdirTemp("", "ksplice-modsig-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "module.ko")
	if err := os.WriteFile(p, ko, 0o600); err != nil {
		return nil, err
	}
	if _, err := run.New(signFile, hash, key, cert, p).Output(ctx); err != nil {
		return nil, fmt.Errorf("sign module: %w", err)
	}
	out, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	sig, err := Parse(out)
	if err != nil {
		return nil, fmt.Errorf("sign module: %s wrote: %w", signFile, err)
	}
	if !bytes.Equal(sig.Content, ko) {
		return nil, fmt.Errorf("sign module: %s changed the module itself", signFile)
	}
	return out, nil
}
