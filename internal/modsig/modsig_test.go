package modsig

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// cacheHeaders is the headers tree of the lab's default kernel, whose
// scripts/sign-file (Debian's linux-kbuild) the test signs with.
const cacheHeaders = "/var/cache/ksplice/kernels/debian/6.1.0-55-amd64/headers/usr/src/linux-headers-6.1.0-55-amd64"

// MakeTestKey writes a module signing key and certificate into dir the
// way the kernel's certs/Makefile makes its own (openssl req -x509 with
// the x509.genkey extensions), and returns their paths.
func makeTestKey(t *testing.T, dir string) (key, cert string) {
	t.Helper()
	conf := filepath.Join(dir, "x509.genkey")
	os.WriteFile(conf, []byte(`[ req ]
default_bits = 2048
distinguished_name = req_distinguished_name
prompt = no
x509_extensions = myexts
[ req_distinguished_name ]
CN = ksplice test module signing key
[ myexts ]
basicConstraints=critical,CA:FALSE
keyUsage=digitalSignature
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
`), 0o644)
	key, cert = filepath.Join(dir, "signing_key.pem"), filepath.Join(dir, "signing_cert.pem")
	out, err := exec.Command("openssl", "req", "-new", "-nodes", "-utf8", "-sha256", "-days", "36500", "-batch", "-x509",
		"-config", conf, "-outform", "PEM", "-out", cert, "-keyout", key).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	return key, cert
}

func TestSignAndVerify(t *testing.T) {
	signFile, err := FindSignFile(cacheHeaders)
	if err != nil {
		t.Skipf("%v (the lab's default kernel is not fetched)", err)
	}
	dir := t.TempDir()
	key, cert := makeTestKey(t, dir)
	if s, err := Signer(cert); err != nil || s != "ksplice test module signing key" {
		t.Errorf("Signer = %q, %v", s, err)
	}
	ko := []byte("\x7fELF pretend module contents\n")
	if _, err := Parse(ko); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("Parse of an unsigned module: %v, want ErrUnsigned", err)
	}
	signed, err := Sign(context.Background(), signFile, "sha256", key, cert, ko)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := Parse(signed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sig.Content, ko) {
		t.Fatal("signed content differs from the module")
	}
	if _, err := Sign(context.Background(), signFile, "sha256", key, cert, signed); err == nil {
		t.Error("a signed module was signed again")
	}

	// openssl checks the PKCS#7 message against the certificate, as the
	// kernel does against its keyring: over the module's bytes, and not
	// over other bytes.
	p7 := filepath.Join(dir, "sig.p7")
	os.WriteFile(p7, sig.PKCS7, 0o644)
	verify := func(content []byte) error {
		c := filepath.Join(dir, "content")
		os.WriteFile(c, content, 0o644)
		out, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", p7, "-content", c,
			"-certfile", cert, "-nointern", "-noverify", "-out", os.DevNull).CombinedOutput()
		if err != nil {
			return errors.New(string(out))
		}
		return nil
	}
	if err := verify(sig.Content); err != nil {
		t.Errorf("openssl cms -verify of the module's signature: %v", err)
	}
	tampered := append([]byte{}, sig.Content...)
	tampered[5] ^= 1
	if err := verify(tampered); err == nil {
		t.Error("openssl verified the signature over changed bytes")
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		ko   []byte
		want error
	}{
		{"unsigned", []byte("\x7fELF"), ErrUnsigned},
		{"marker-only", []byte(Marker), ErrMalformed},
		{"not-pkcs7", append(make([]byte, 20), append([]byte{0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 4}, Marker...)...), ErrMalformed},
		{"sig-len-too-big", append([]byte("abc"), append([]byte{0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0}, Marker...)...), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse(tc.ko); !errors.Is(err, tc.want) {
				t.Errorf("Parse = %v, want %v", err, tc.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("x" + Marker))
	f.Fuzz(func(t *testing.T, b []byte) {
		if s, err := Parse(b); err == nil && len(s.Content)+len(s.PKCS7) > len(b) {
			t.Fatal("signature larger than the module")
		}
	})
}
