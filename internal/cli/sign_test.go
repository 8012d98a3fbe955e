package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/sign"
	"github.com/ksplice-go/ksplice/internal/update"
)

// TestKeygenSignInspect: keygen makes a key pair, sign signs an update
// with it, inspect names the key, and the signature verifies with the
// public key keygen wrote; the refusals of sign exit as documented.
func TestKeygenSignInspect(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "fleet")
	out, errOut, code := run("keygen", "-o", prefix, "--comment", "fleet test", "--json")
	if code != ExitOK {
		t.Fatalf("keygen: exit %d: %s", code, errOut)
	}
	var kg struct {
		KeyID  string `json:"key_id"`
		Secret string `json:"secret_key"`
		Public string `json:"public_key"`
	}
	if err := json.Unmarshal([]byte(out), &kg); err != nil || kg.Secret != prefix+".key" || kg.Public != prefix+".pub" {
		t.Fatalf("keygen --json = %q (%v)", out, err)
	}
	if _, errOut, code := run("keygen", "-o", prefix); code != ExitError || !strings.Contains(errOut, "exists") {
		t.Errorf("keygen over an existing key: exit %d, %q", code, errOut)
	}
	pub, err := sign.ReadPublicKeyFile(kg.Public)
	if err != nil || pub.ID() != kg.KeyID || pub.Comment != "fleet test" {
		t.Fatalf("public key %+v, %v; want id %s", pub, err, kg.KeyID)
	}

	m := &update.Manifest{ID: "cli_sign", Created: time.Unix(0, 0).UTC(), Kernel: update.Kernel{Release: "6.1.0-55-amd64", Machine: "x86_64"},
		Core: "ksplice.ko", Targets: []update.Target{{Name: "vmlinux", Module: "m.ko"}}}
	var buf bytes.Buffer
	if err := update.Write(&buf, m, map[string][]byte{"ksplice.ko": []byte("core"), "m.ko": []byte("mod")}); err != nil {
		t.Fatal(err)
	}
	tarball := filepath.Join(dir, "u.tar")
	os.WriteFile(tarball, buf.Bytes(), 0o644)
	if out, _, _ := run("inspect", tarball); !strings.Contains(out, "not signed") {
		t.Errorf("inspect of an unsigned update: %q", out)
	}
	if _, errOut, code := run("sign", tarball); code != ExitUsage {
		t.Errorf("sign without --key: exit %d (%s)", code, errOut)
	}
	if out, errOut, code := run("sign", "--key", kg.Secret, tarball); code != ExitOK || !strings.Contains(out, kg.KeyID) {
		t.Fatalf("sign: exit %d: %s%s", code, out, errOut)
	}
	if out, _, _ := run("inspect", tarball); !strings.Contains(out, "signed by key "+kg.KeyID) {
		t.Errorf("inspect of the signed update: %q", out)
	}
	u, err := update.ReadFile(tarball)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := u.Verify([]sign.PublicKey{pub}); err != nil || id != kg.KeyID {
		t.Errorf("the signed update verifies as %q, %v", id, err)
	}

	// An encrypted key: the password comes from the environment.
	t.Setenv(PasswordEnv, "")
	if _, _, code := run("keygen", "-o", filepath.Join(dir, "enc"), "--encrypt"); code != ExitUsage {
		t.Errorf("keygen --encrypt without a password: exit %d", code)
	}
	if _, err := readSigningKey(kg.Secret); err != nil {
		t.Errorf("unencrypted key: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "garbage.key"), []byte("nope"), 0o600)
	if _, err := readSigningKey(filepath.Join(dir, "garbage.key")); !errors.Is(err, sign.ErrKeyFormat) {
		t.Errorf("garbage key: %v", err)
	}
}

func TestExitCodeOfSignatureRefusals(t *testing.T) {
	for _, err := range []error{sign.ErrUnsigned, sign.ErrBadSignature, &sign.KeyError{KeyID: "AB", Err: sign.ErrUntrustedKey}} {
		if got := exitCode(err); got != ExitRefused {
			t.Errorf("exitCode(%v) = %d, want %d", err, got, ExitRefused)
		}
	}
}
