package sign

import (
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/verdict"
)

func mustKey(t testing.TB, comment string) (PrivateKey, PublicKey) {
	t.Helper()
	priv, pub, err := GenerateKey(comment)
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

func TestSignVerify(t *testing.T) {
	priv, pub := mustKey(t, "test key")
	_, other := mustKey(t, "other")
	msg := []byte(`{"id": "demo"}` + "\n")
	sig, err := Sign(priv, msg)
	if err != nil {
		t.Fatal(err)
	}
	tampered := []byte(`{"id": "demO"}` + "\n")
	for _, tc := range []struct {
		name    string
		trusted []PublicKey
		msg     []byte
		sig     []byte
		want    error // nil: verifies
		wantID  string
	}{
		{"trusted", []PublicKey{other, pub}, msg, sig, nil, pub.ID()},
		{"tampered", []PublicKey{pub}, tampered, sig, ErrBadSignature, pub.ID()},
		{"untrusted", []PublicKey{other}, msg, sig, ErrUntrustedKey, pub.ID()},
		{"no-trusted-keys", nil, msg, sig, ErrUntrustedKey, pub.ID()},
		{"unsigned", []PublicKey{pub}, msg, nil, ErrUnsigned, ""},
		{"blank", []PublicKey{pub}, msg, []byte("\n"), ErrUnsigned, ""},
		{"malformed", []PublicKey{pub}, msg, []byte("untrusted comment: x\nnot base64\n"), ErrBadSignature, ""},
		{"comment-changed", []PublicKey{pub}, msg, []byte(strings.Replace(string(sig), "trusted comment: timestamp:", "trusted comment: timestamp:1", 1)), ErrBadSignature, pub.ID()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := Verify(tc.trusted, tc.msg, tc.sig)
			if tc.want == nil {
				if err != nil || id != tc.wantID {
					t.Fatalf("Verify = %q, %v; want %q, nil", id, err, tc.wantID)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, verdict.ErrRefused) {
				t.Fatalf("Verify error = %v; want %v (a refusal)", err, tc.want)
			}
			if tc.wantID != "" {
				var ke *KeyError
				if !errors.As(err, &ke) || ke.KeyID != tc.wantID || !strings.Contains(err.Error(), tc.wantID) {
					t.Fatalf("Verify error = %v; want a KeyError naming key %s", err, tc.wantID)
				}
			}
		})
	}
}

func TestKeyFilesRoundTrip(t *testing.T) {
	priv, pub := mustKey(t, "fleet 2026")
	msg := []byte("manifest")
	for _, password := range []string{"", "correct horse"} {
		b, err := MarshalPrivateKey(priv, password)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(b), "untrusted comment: fleet 2026\n") {
			t.Errorf("private key file starts %q", strings.SplitN(string(b), "\n", 2)[0])
		}
		if password != "" {
			if _, err := ParsePrivateKey(b, ""); !errors.Is(err, ErrPassword) {
				t.Errorf("encrypted key without password: %v, want ErrPassword", err)
			}
			// (A wrong password is not tried: minisign's scrypt takes 1 GiB
			// and seconds each time, and the library's tests cover it.)
		}
		back, err := ParsePrivateKey(b, password)
		if err != nil {
			t.Fatalf("password %q: %v", password, err)
		}
		if back.ID() != priv.ID() || back.Comment != "fleet 2026" {
			t.Errorf("read back key %s %q, want %s %q", back.ID(), back.Comment, priv.ID(), "fleet 2026")
		}
		sig, err := Sign(back, msg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Verify([]PublicKey{pub}, msg, sig); err != nil {
			t.Errorf("signature of the read-back key: %v", err)
		}
	}
	pb, _ := pub.MarshalText()
	back, err := ParsePublicKey(pb)
	if err != nil || !back.Equal(pub) || back.Comment != "fleet 2026" {
		t.Fatalf("public key round trip: %v %v %q", err, back.Equal(pub), back.Comment)
	}
	if _, err := ParsePublicKey([]byte("untrusted comment: x\nAAAA\n")); !errors.Is(err, ErrKeyFormat) {
		t.Errorf("short key: %v, want ErrKeyFormat", err)
	}
	if _, _, err := GenerateKey("two\nlines"); err == nil {
		t.Error("a two-line comment was accepted")
	}
}

func TestWriteKeyFiles(t *testing.T) {
	dir := t.TempDir()
	priv, _ := mustKey(t, "")
	sk, pk := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	if err := WriteKeyFiles(sk, pk, priv, ""); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(sk)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret key file mode: %v %v, want 0600", st.Mode(), err)
	}
	if err := WriteKeyFiles(sk, pk, priv, ""); err == nil {
		t.Fatal("WriteKeyFiles overwrote an existing key")
	}
	if _, err := ReadPrivateKeyFile(sk, ""); err != nil {
		t.Fatal(err)
	}
}

func TestLoadTrusted(t *testing.T) {
	dir := t.TempDir()
	_, a := mustKey(t, "a")
	_, b := mustKey(t, "b")
	write := func(name string, k PublicKey) {
		t.Helper()
		pb, _ := k.MarshalText()
		if err := os.WriteFile(filepath.Join(dir, name), pb, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.pub", b)
	write("a.pub", a)
	write("a-again.pub", a)
	os.WriteFile(filepath.Join(dir, "README"), []byte("not a key"), 0o644)
	keys, err := LoadTrusted(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !keys[0].Equal(a) || !keys[1].Equal(b) || keys[0].File != filepath.Join(dir, "a-again.pub") {
		t.Fatalf("LoadTrusted = %+v; want a (from a-again.pub), then b", keys)
	}

	if keys, err := LoadTrusted(filepath.Join(dir, "missing")); err != nil || len(keys) != 0 {
		t.Errorf("missing directory: %v %v, want no keys and no error", keys, err)
	}

	// A key with a's id but b's bytes: refused, not silently shadowed.
	raw, _ := base64.StdEncoding.DecodeString(b.key.String())
	araw, _ := base64.StdEncoding.DecodeString(a.key.String())
	copy(raw[2:10], araw[2:10])
	os.WriteFile(filepath.Join(dir, "c.pub"), []byte("untrusted comment: c\n"+base64.StdEncoding.EncodeToString(raw)+"\n"), 0o644)
	if _, err := LoadTrusted(dir); err == nil || !strings.Contains(err.Error(), a.ID()) {
		t.Errorf("two keys with one id: %v, want an error naming %s", err, a.ID())
	}
	os.WriteFile(filepath.Join(dir, "c.pub"), []byte("garbage\n"), 0o644)
	if _, err := LoadTrusted(dir); !errors.Is(err, ErrKeyFormat) || !strings.Contains(err.Error(), "c.pub") {
		t.Errorf("a bad key file: %v, want ErrKeyFormat naming c.pub", err)
	}
}

// TestMinisignInterop checks the formats against the minisign tool
// itself (Debian's minisign, which make deps installs): it verifies what
// Sign made, and Verify accepts what it signed with a key it generated.
func TestMinisignInterop(t *testing.T) {
	bin, err := exec.LookPath("minisign")
	if err != nil {
		t.Skip("minisign is not installed (make deps installs it)")
	}
	dir := t.TempDir()
	msg := filepath.Join(dir, "manifest.json")
	os.WriteFile(msg, []byte(`{"id":"interop"}`), 0o644)
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("minisign %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	priv, pub := mustKey(t, "ours")
	if err := WriteKeyFiles(filepath.Join(dir, "ours.key"), filepath.Join(dir, "ours.pub"), priv, ""); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(msg)
	sig, err := Sign(priv, b)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(msg+".minisig", sig, 0o644)
	if out := run("-V", "-m", msg, "-p", filepath.Join(dir, "ours.pub")); !strings.Contains(out, "Signature and comment signature verified") {
		t.Errorf("minisign -V of our signature: %s", out)
	}

	run("-G", "-W", "-p", filepath.Join(dir, "theirs.pub"), "-s", filepath.Join(dir, "theirs.key"))
	run("-S", "-m", msg, "-s", filepath.Join(dir, "theirs.key"), "-x", filepath.Join(dir, "theirs.sig"))
	theirs, err := ReadPublicKeyFile(filepath.Join(dir, "theirs.pub"))
	if err != nil {
		t.Fatal(err)
	}
	tsig, _ := os.ReadFile(filepath.Join(dir, "theirs.sig"))
	if id, err := Verify([]PublicKey{pub, theirs}, b, tsig); err != nil || id != theirs.ID() {
		t.Errorf("Verify of minisign's signature = %q, %v; want %s", id, err, theirs.ID())
	}
	if len(theirs.ID()) != 16 || !strings.Contains(theirs.Comment, strings.TrimLeft(theirs.ID(), "0")) {
		t.Errorf("minisign's key comment %q does not name id %s as ksplice prints it", theirs.Comment, theirs.ID())
	}
	if _, err := ReadPrivateKeyFile(filepath.Join(dir, "theirs.key"), ""); err != nil {
		t.Errorf("minisign's unencrypted secret key: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	priv, pub := mustKey(f, "fuzz")
	sig, _ := Sign(priv, []byte("m"))
	f.Add([]byte("m"), sig)
	f.Add([]byte(""), []byte("untrusted comment: \nRWQ=\ntrusted comment: \nAA==\n"))
	f.Fuzz(func(t *testing.T, msg, sig []byte) {
		id, err := Verify([]PublicKey{pub}, msg, sig)
		if err == nil && id != pub.ID() {
			t.Fatalf("verified with id %q", id)
		}
		ParsePublicKey(sig)
		ParsePrivateKey(sig, "")
	})
}
