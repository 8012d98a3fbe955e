package update

import (
	"archive/tar"
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/sign"
)

func sample() (*Manifest, map[string][]byte) {
	m := &Manifest{
		ID:          "cmdline_fix",
		Description: "mark /proc/cmdline",
		Created:     time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC),
		Tool:        "ksplice test",
		Kernel:      Kernel{Release: "6.1.0-55-amd64", Machine: "x86_64", Vermagic: "6.1.0-55-amd64 SMP preempt mod_unload modversions "},
		Patch:       "patch.diff",
		Core:        "ksplice.ko",
		Targets: []Target{{Name: "vmlinux", Module: "ksplice_cmdline_fix_vmlinux.ko", Objects: []string{"fs/proc/cmdline.o"},
			Functions: []Function{{Name: "cmdline_proc_show", Object: "fs/proc/cmdline.o", Status: "changed", OldSize: 42, NewSize: 57}}}},
	}
	files := map[string][]byte{
		"patch.diff":                     []byte("--- a\n+++ b\n"),
		"ksplice.ko":                     []byte("\x7fELF core"),
		"ksplice_cmdline_fix_vmlinux.ko": []byte("\x7fELF update"),
	}
	return m, files
}

func write(t *testing.T) []byte {
	t.Helper()
	m, files := sample()
	var buf bytes.Buffer
	if err := Write(&buf, m, files); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	m, files := sample()
	u, err := Read(bytes.NewReader(write(t)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(u.Files, files) {
		t.Errorf("files differ")
	}
	if u.Manifest.Format != FormatVersion || u.Manifest.ID != m.ID || len(u.Manifest.Files) != 3 ||
		!reflect.DeepEqual(u.Manifest.Targets, m.Targets) || !u.Manifest.Created.Equal(m.Created) {
		t.Errorf("manifest = %+v", u.Manifest)
	}
}

// rewrite copies an update tarball, letting edit change each file.
func rewrite(t *testing.T, in []byte, edit func(name string, b []byte) (string, []byte)) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(in))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		var b bytes.Buffer
		b.ReadFrom(tr)
		name, data := edit(hdr.Name, b.Bytes())
		if data == nil {
			continue
		}
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data))})
		tw.Write(data)
	}
	tw.Close()
	return out.Bytes()
}

func TestReadRefuses(t *testing.T) {
	good := write(t)
	for _, tc := range []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"tampered module", rewrite(t, good, func(n string, b []byte) (string, []byte) {
			if n == "ksplice.ko" {
				b = append([]byte{}, b...)
				b[1] ^= 1
			}
			return n, b
		}), ErrChecksum, "ksplice.ko has sha256"},
		{"missing file", rewrite(t, good, func(n string, b []byte) (string, []byte) {
			if n == "patch.diff" {
				return n, nil
			}
			return n, b
		}), ErrChecksum, "patch.diff is missing"},
		{"extra file", append(rewrite(t, good, func(n string, b []byte) (string, []byte) { return n, b })[:0:0],
			rewrite(t, good, func(n string, b []byte) (string, []byte) {
				if n == "patch.diff" {
					return "evil.ko", b
				}
				return n, b
			})...), ErrChecksum, ""},
		{"newer format", rewrite(t, good, func(n string, b []byte) (string, []byte) {
			if n == ManifestName {
				return n, bytes.Replace(b, []byte(`"format": 2`), []byte(`"format": 99`), 1)
			}
			return n, b
		}), ErrFormat, "format version 99"},
		{"not a tarball", []byte("hello"), ErrFormat, ""},
		{"empty", nil, ErrFormat, ""},
		// Cut at a file boundary this reads as a missing file, inside one
		// as a broken archive: either way, refused.
		{"truncated", good[:len(good)/2], nil, ""},
		{"path traversal", rewrite(t, good, func(n string, b []byte) (string, []byte) {
			if n == "patch.diff" {
				return "../patch.diff", b
			}
			return n, b
		}), ErrFormat, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(tc.data))
			if tc.want == nil && err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Read = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q lacks %q", err, tc.msg)
			}
		})
	}
}

func TestSigned(t *testing.T) {
	priv, pub, err := sign.GenerateKey("test")
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := sign.GenerateKey("other")
	m, files := sample()
	var buf bytes.Buffer
	if err := WriteSigned(&buf, m, files, priv); err != nil {
		t.Fatal(err)
	}
	signed := buf.Bytes()
	u, err := Read(bytes.NewReader(signed))
	if err != nil {
		t.Fatal(err)
	}
	if id, err := u.Verify([]sign.PublicKey{other, pub}); err != nil || id != pub.ID() {
		t.Fatalf("Verify = %q, %v; want %s", id, err, pub.ID())
	}
	if !bytes.Equal(u.Raw, signed) {
		t.Errorf("Raw is %d bytes, the tarball %d", len(u.Raw), len(signed))
	}
	names := []string{}
	rewrite(t, signed, func(n string, b []byte) (string, []byte) { names = append(names, n); return n, b })
	if names[0] != ManifestName || names[1] != SignatureName {
		t.Errorf("tarball order %v; want the manifest, then its signature", names)
	}

	// Unsigned, the same update verifies as unsigned.
	un, err := Read(bytes.NewReader(write(t)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := un.Verify([]sign.PublicKey{pub}); !errors.Is(err, sign.ErrUnsigned) {
		t.Errorf("unsigned: Verify = %v, want ErrUnsigned", err)
	}

	// Signing it afterwards (ksplice sign) keeps the manifest's bytes.
	re, err := Resign(un, priv)
	if err != nil {
		t.Fatal(err)
	}
	ru, err := Read(bytes.NewReader(re))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ru.Verify([]sign.PublicKey{pub}); err != nil || !bytes.Equal(ru.RawManifest, un.RawManifest) {
		t.Errorf("resigned: Verify = %v, manifest kept: %v", err, bytes.Equal(ru.RawManifest, un.RawManifest))
	}

	// A manifest edited after signing (its checksums still right) and a
	// signature of another key: refused, naming the key.
	edited := rewrite(t, signed, func(n string, b []byte) (string, []byte) {
		if n == ManifestName {
			return n, bytes.Replace(b, []byte("mark /proc/cmdline"), []byte("mark /proc/cmdlinE"), 1)
		}
		return n, b
	})
	eu, err := Read(bytes.NewReader(edited))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eu.Verify([]sign.PublicKey{pub}); !errors.Is(err, sign.ErrBadSignature) || !strings.Contains(err.Error(), pub.ID()) {
		t.Errorf("edited manifest: Verify = %v, want ErrBadSignature naming %s", err, pub.ID())
	}
	if _, err := u.Verify([]sign.PublicKey{other}); !errors.Is(err, sign.ErrUntrustedKey) || !strings.Contains(err.Error(), pub.ID()) {
		t.Errorf("untrusted: Verify = %v, want ErrUntrustedKey naming %s", err, pub.ID())
	}

	// Version 1 has no signature file: one there is a file extra.
	v1 := rewrite(t, signed, func(n string, b []byte) (string, []byte) {
		if n == ManifestName {
			return n, bytes.Replace(b, []byte(`"format": 2`), []byte(`"format": 1`), 1)
		}
		return n, b
	})
	if _, err := Read(bytes.NewReader(v1)); !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), SignatureName) {
		t.Errorf("version 1 with a signature: %v, want ErrChecksum naming %s", err, SignatureName)
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{"cmdline_fix": true, "a1": true, "": false, "Upper": false, "has-dash": false, "x/../y": false,
		strings.Repeat("a", 33): false} {
		if ValidID(id) != want {
			t.Errorf("ValidID(%q) = %v", id, !want)
		}
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte{})
	m, files := sample()
	var buf bytes.Buffer
	Write(&buf, m, files)
	f.Add(buf.Bytes())
	if key, _, err := sign.GenerateKey("fuzz"); err == nil {
		var sb bytes.Buffer
		m, files := sample()
		WriteSigned(&sb, m, files, key)
		f.Add(sb.Bytes())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := Read(bytes.NewReader(b))
		if err == nil && (u == nil || !ValidID(u.Manifest.ID)) {
			t.Fatal("Read accepted an update without a valid id")
		}
	})
}

func TestEngineID(t *testing.T) {
	m, _ := sample()
	if got := m.EngineID(m.Targets[0]); got != "cmdline_fix" {
		t.Errorf("one target: EngineID = %q", got)
	}
	m.Targets = append(m.Targets, Target{Name: "ext4", Module: "x.ko"})
	if got := m.EngineID(m.Targets[1]); got != "cmdline_fix.ext4" {
		t.Errorf("two targets: EngineID = %q", got)
	}
}
