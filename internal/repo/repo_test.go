package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ksplice-go/ksplice/internal/sign"
	"github.com/ksplice-go/ksplice/internal/update"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// testKey is a key of internal/sign, with the Signer and Verifier the CLI
// binds.
type testKey struct {
	priv sign.PrivateKey
	pub  sign.PublicKey
}

func newKey(t *testing.T) testKey {
	t.Helper()
	priv, pub, err := sign.GenerateKey("repo test")
	if err != nil {
		t.Fatal(err)
	}
	return testKey{priv, pub}
}

func (k testKey) sign(msg []byte) ([]byte, error) { return sign.Sign(k.priv, msg) }

func verifier(trusted ...testKey) Verifier {
	var pubs []sign.PublicKey
	for _, k := range trusted {
		pubs = append(pubs, k.pub)
	}
	return func(msg, sig []byte) (string, error) { return sign.Verify(pubs, msg, sig) }
}

// writeUpdate writes a small valid update tarball for release and returns
// its path.
func writeUpdate(t *testing.T, dir, id, release, payload string) string {
	t.Helper()
	m := &update.Manifest{
		ID: id, Description: "test update " + id, Created: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC),
		Tool:   "ksplice test",
		Kernel: update.Kernel{Release: release, Machine: "x86_64"},
		Patch:  "patch.diff", Core: "ksplice.ko",
		Targets: []update.Target{{Name: "vmlinux", Module: "ksplice_" + id + "_vmlinux.ko"}},
	}
	files := map[string][]byte{
		"patch.diff":                    []byte(payload),
		"ksplice.ko":                    []byte("engine"),
		"ksplice_" + id + "_vmlinux.ko": []byte("module " + payload),
	}
	var buf bytes.Buffer
	if err := update.Write(&buf, m, files); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, id+"-"+release+".tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readIndex(t *testing.T, dir string, verify Verifier) *Decoded {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, IndexName))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Decode(b, verify, verify == nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func ids(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

const rel = "6.1.0-55-amd64"

func TestPublishAddsInOrder(t *testing.T) {
	src, dir := t.TempDir(), filepath.Join(t.TempDir(), "repo")
	k := newKey(t)
	a := writeUpdate(t, src, "a", rel, "A")
	b := writeUpdate(t, src, "b", rel, "B")
	c := writeUpdate(t, src, "c", rel, "C")
	other := writeUpdate(t, src, "a", "6.12.117+deb12-amd64", "A612")
	opts := PublishOptions{Sign: k.sign, Verify: verifier(k), Tool: "ksplice test"}

	res, err := Publish(dir, []string{b, a, other}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Wrote || !res.Signed || len(res.Updates) != 3 {
		t.Fatalf("result %+v", res)
	}
	// A second publish adds after what is there; one already there is
	// left alone.
	res, err = Publish(dir, []string{a, c}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Updates[0].Already || res.Updates[1].Already {
		t.Errorf("already: %v %v, want true false", res.Updates[0].Already, res.Updates[1].Already)
	}
	d := readIndex(t, dir, verifier(k))
	if d.KeyID != k.priv.ID() || !d.Signed {
		t.Errorf("key %q signed %v", d.KeyID, d.Signed)
	}
	if diff := cmp.Diff([]string{"b", "a", "c"}, ids(d.Index.Kernels[rel])); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a"}, ids(d.Index.Kernels["6.12.117+deb12-amd64"])); diff != "" {
		t.Errorf("6.12 (-want +got):\n%s", diff)
	}
	// Every entry names a file of the repository with its sha256 and size.
	for r, es := range d.Index.Kernels {
		for _, e := range es {
			b, err := os.ReadFile(filepath.Join(dir, e.File))
			if err != nil {
				t.Fatalf("%s/%s: %v", r, e.ID, err)
			}
			sum := sha256.Sum256(b)
			if hex.EncodeToString(sum[:]) != e.SHA256 || int64(len(b)) != e.Size {
				t.Errorf("%s/%s: file does not match its entry", r, e.ID)
			}
			if e.Release != r || e.Machine != "x86_64" || e.Description != "test update "+e.ID {
				t.Errorf("%s/%s: entry %+v", r, e.ID, e)
			}
		}
	}
	// Nothing left behind but the repository's own files.
	var names []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			r, _ := filepath.Rel(dir, p)
			names = append(names, r)
		}
		return nil
	})
	want := []string{".publish.lock", "index.json", "updates/6.1.0-55-amd64/a.tar", "updates/6.1.0-55-amd64/b.tar",
		"updates/6.1.0-55-amd64/c.tar", "updates/6.12.117+deb12-amd64/a.tar"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

func TestPublishIdempotent(t *testing.T) {
	src, dir := t.TempDir(), t.TempDir()
	a := writeUpdate(t, src, "a", rel, "A")
	if _, err := Publish(dir, []string{a}, PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, IndexName))
	res, err := Publish(dir, []string{a}, PublishOptions{Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, IndexName))
	if res.Wrote || !bytes.Equal(before, after) {
		t.Errorf("publishing the same update again rewrote the index (wrote %v)", res.Wrote)
	}
}

func TestPublishRefusesConflict(t *testing.T) {
	src, dir := t.TempDir(), t.TempDir()
	a := writeUpdate(t, src, "a", rel, "A")
	if _, err := Publish(dir, []string{a}, PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, IndexName))
	newB := writeUpdate(t, t.TempDir(), "b", rel, "B")
	a2 := writeUpdate(t, t.TempDir(), "a", rel, "A, rebuilt")
	_, err := Publish(dir, []string{newB, a2}, PublishOptions{})
	if !errors.Is(err, ErrConflict) || !errors.Is(err, verdict.ErrRefused) {
		t.Fatalf("err %v, want ErrConflict", err)
	}
	if !strings.Contains(err.Error(), "a for "+rel) {
		t.Errorf("error %q does not name the update", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, IndexName))
	if !bytes.Equal(before, after) {
		t.Error("a refused publish changed the index")
	}
	if _, err := os.Stat(filepath.Join(dir, "updates", rel, "b.tar")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused publish wrote the update before the conflict: %v", err)
	}
}

func TestPublishKeepPublished(t *testing.T) {
	src, dir := t.TempDir(), t.TempDir()
	a := writeUpdate(t, src, "a", rel, "A")
	if _, err := Publish(dir, []string{a}, PublishOptions{}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, IndexName))
	a2 := writeUpdate(t, t.TempDir(), "a", rel, "A, rebuilt")
	b := writeUpdate(t, src, "b", rel, "B")
	res, err := Publish(dir, []string{a2, b}, PublishOptions{KeepPublished: true})
	if err != nil {
		t.Fatal(err)
	}
	if u := res.Updates[0]; !u.Kept || !u.Already || u.SHA256 != readIndex(t, dir, nil).Index.Kernels[rel][0].SHA256 {
		t.Errorf("rebuilt a: %+v, want the published one kept", u)
	}
	d := readIndex(t, dir, nil)
	if diff := cmp.Diff([]string{"a", "b"}, ids(d.Index.Kernels[rel])); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	old := Index{}
	json.Unmarshal(before, &struct{ Index *Index }{&old})
	if d.Index.Kernels[rel][0] != old.Kernels[rel][0] {
		t.Errorf("the published a changed: %+v -> %+v", old.Kernels[rel][0], d.Index.Kernels[rel][0])
	}
}

func TestPublishRefusesBadTarballAndTamperedIndex(t *testing.T) {
	src, dir := t.TempDir(), t.TempDir()
	bad := filepath.Join(src, "bad.tar")
	os.WriteFile(bad, []byte("not a tarball"), 0o644)
	if _, err := Publish(dir, []string{bad}, PublishOptions{}); !errors.Is(err, update.ErrFormat) {
		t.Errorf("bad tarball: err %v, want update.ErrFormat", err)
	}

	k := newKey(t)
	a := writeUpdate(t, src, "a", rel, "A")
	if _, err := Publish(dir, []string{a}, PublishOptions{Sign: k.sign}); err != nil {
		t.Fatal(err)
	}
	tamper(t, filepath.Join(dir, IndexName), `"test update a"`, `"evil update a"`)
	b := writeUpdate(t, src, "b", rel, "B")
	_, err := Publish(dir, []string{b}, PublishOptions{Sign: k.sign, Verify: verifier(k)})
	if !errors.Is(err, ErrSignature) || !errors.Is(err, sign.ErrBadSignature) {
		t.Errorf("publishing into a tampered repository: err %v, want ErrSignature", err)
	}
}

func tamper(t *testing.T, name, old, new string) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s has no %q", name, old)
	}
	if err := os.WriteFile(name, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDecode(t *testing.T) {
	k, other := newKey(t), newKey(t)
	ix := &Index{Format: FormatVersion, Kernels: map[string][]Entry{rel: {{
		ID: "a", Release: rel, Machine: "x86_64", File: "updates/" + rel + "/a.tar",
		SHA256: strings.Repeat("ab", 32), Size: 10,
	}}}}
	signed, err := Encode(ix, k.sign)
	if err != nil {
		t.Fatal(err)
	}
	unsigned, err := Encode(ix, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Whitespace is not signed: the index may be re-indented.
	var compact bytes.Buffer
	json.Compact(&compact, signed)
	for _, tc := range []struct {
		name          string
		in            []byte
		verify        Verifier
		allowUnsigned bool
		want          error // nil: decodes
	}{
		{"signed", signed, verifier(k), false, nil},
		{"signed, reformatted", compact.Bytes(), verifier(k), false, nil},
		{"another key", signed, verifier(other), false, sign.ErrUntrustedKey},
		{"unsigned", unsigned, verifier(k), false, ErrUnsigned},
		{"unsigned allowed", unsigned, verifier(k), true, nil},
		{"signed, no keys", signed, nil, false, ErrSignature},
		{"tampered", bytes.Replace(signed, []byte(`/a.tar"`), []byte(`/b.tar"`), 1), verifier(k), false, ErrSignature},
		{"garbage", []byte("<html>"), verifier(k), false, ErrFormat},
		{"format 2", mustEncode(t, &Index{Format: 2}, k.sign), verifier(k), false, ErrFormat},
		{"escaping file", mustEncode(t, withFile(ix, "../../etc/shadow"), k.sign), verifier(k), false, ErrFormat},
		{"absolute file", mustEncode(t, withFile(ix, "/etc/shadow"), k.sign), verifier(k), false, ErrFormat},
		{"url file", mustEncode(t, withFile(ix, "http://evil/x.tar"), k.sign), verifier(k), false, ErrFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decode(tc.in, tc.verify, tc.allowUnsigned)
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(ix.Kernels, d.Index.Kernels); diff != "" {
					t.Errorf("index (-want +got):\n%s", diff)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func withFile(ix *Index, file string) *Index {
	c := *ix
	e := ix.Kernels[rel][0]
	e.File = file
	c.Kernels = map[string][]Entry{rel: {e}}
	return &c
}

func mustEncode(t *testing.T, ix *Index, s Signer) []byte {
	t.Helper()
	b, err := Encode(ix, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHTTP serves a published repository from 127.0.0.1 and reads it back
// the way upgrade does, then breaks it in each way a network or an
// attacker can.
func TestHTTP(t *testing.T) {
	src, dir := t.TempDir(), t.TempDir()
	k := newKey(t)
	a := writeUpdate(t, src, "a", rel, "A")
	b := writeUpdate(t, src, "b", "6.12.117+deb12-amd64", "B")
	if _, err := Publish(dir, []string{a, b}, PublishOptions{Sign: k.sign}); err != nil {
		t.Fatal(err)
	}
	var paths []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.EscapedPath())
		http.FileServer(http.Dir(dir)).ServeHTTP(w, r)
	}))
	defer srv.Close()
	ctx := context.Background()

	s, err := OpenSource(srv.URL+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := FetchIndex(ctx, s, verifier(k), false)
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	for r, es := range d.Index.Kernels {
		got, err := Download(ctx, s, es[0], cache)
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		if _, err := update.ReadFile(got); err != nil {
			t.Errorf("%s: downloaded update: %v", r, err)
		}
	}
	if !contains(paths, "/updates/6.12.117%2Bdeb12-amd64/b.tar") {
		t.Errorf("requests %q: the '+' of a 6.12 release was not escaped", paths)
	}
	// A second download comes from the cache.
	n := len(paths)
	if _, err := Download(ctx, s, d.Index.Kernels[rel][0], cache); err != nil || len(paths) != n {
		t.Errorf("cached download: err %v, %d requests", err, len(paths)-n)
	}

	t.Run("tampered tarball", func(t *testing.T) {
		e := d.Index.Kernels[rel][0]
		p := filepath.Join(dir, e.File)
		orig, _ := os.ReadFile(p)
		defer os.WriteFile(p, orig, 0o644)
		bad := bytes.Clone(orig)
		bad[len(bad)/2] ^= 1
		os.WriteFile(p, bad, 0o644)
		cache := t.TempDir()
		_, err := Download(ctx, s, e, cache)
		if !errors.Is(err, ErrChecksum) || !errors.Is(err, verdict.ErrRefused) || !strings.Contains(err.Error(), "sha256") {
			t.Errorf("err %v, want ErrChecksum", err)
		}
		if ents, _ := os.ReadDir(cache); len(ents) != 0 {
			t.Errorf("a tarball that failed its check was left in the cache: %v", ents)
		}
		// The same in the cache: a bad cached copy is fetched again.
		os.WriteFile(p, orig, 0o644)
		os.WriteFile(filepath.Join(cache, e.SHA256+".tar"), bad, 0o644)
		if got, err := Download(ctx, s, e, cache); err != nil {
			t.Errorf("bad cached copy: %v", err)
		} else if sum, _ := fileSHA256(got); sum != e.SHA256 {
			t.Error("bad cached copy was used")
		}
	})
	t.Run("tampered index", func(t *testing.T) {
		p := filepath.Join(dir, IndexName)
		orig, _ := os.ReadFile(p)
		defer os.WriteFile(p, orig, 0o644)
		tamper(t, p, `"test update a"`, `"evil update a"`)
		if _, err := FetchIndex(ctx, s, verifier(k), false); !errors.Is(err, ErrSignature) {
			t.Errorf("err %v, want ErrSignature", err)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		_, err := FetchIndex(ctx, s, verifier(newKey(t)), false)
		if !errors.Is(err, ErrSignature) || !errors.Is(err, verdict.ErrRefused) {
			t.Errorf("err %v, want ErrSignature", err)
		}
	})
	t.Run("not a repository", func(t *testing.T) {
		s, _ := OpenSource(srv.URL+"/nothing/", nil)
		_, err := FetchIndex(ctx, s, verifier(k), false)
		if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "not a ksplice repository") {
			t.Errorf("err %v, want ErrNotFound", err)
		}
	})
	t.Run("network error", func(t *testing.T) {
		// A port on 127.0.0.1 nothing listens on.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		s, _ := OpenSource(fmt.Sprintf("http://%s/", addr), &http.Client{Timeout: 5 * time.Second})
		_, err = FetchIndex(ctx, s, verifier(k), false)
		if err == nil || errors.Is(err, verdict.ErrRefused) || !strings.Contains(err.Error(), addr) {
			t.Errorf("err %v, want a fetch error naming %s, not a refusal", err, addr)
		}
	})
}

func TestDirSource(t *testing.T) {
	src, dir := t.TempDir(), t.TempDir()
	k := newKey(t)
	a := writeUpdate(t, src, "a", rel, "A")
	if _, err := Publish(dir, []string{a}, PublishOptions{Sign: k.sign}); err != nil {
		t.Fatal(err)
	}
	for _, loc := range []string{dir, "file://" + dir} {
		s, err := OpenSource(loc, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := FetchIndex(context.Background(), s, verifier(k), false)
		if err != nil {
			t.Fatalf("%s: %v", loc, err)
		}
		if _, err := Download(context.Background(), s, d.Index.Kernels[rel][0], t.TempDir()); err != nil {
			t.Errorf("%s: %v", loc, err)
		}
	}
	if _, err := OpenSource("ftp://x/", nil); err == nil {
		t.Error("ftp:// accepted")
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// FuzzDecode feeds Decode what a server can send: it must never panic, and
// an index it accepts names only clean files inside the repository, each
// listed under its own release. The signature check is skipped (nil
// verifier, unsigned allowed) so that mutations reach the parser; Verify
// has its own fuzz target in internal/sign.
func FuzzDecode(f *testing.F) {
	priv, pub, err := sign.GenerateKey("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	k := testKey{priv, pub}
	ix := &Index{Format: FormatVersion, Kernels: map[string][]Entry{rel: {{
		ID: "a", Release: rel, Machine: "x86_64", File: "updates/" + rel + "/a.tar",
		SHA256: strings.Repeat("ab", 32), Size: 10,
	}}}}
	for _, s := range []Signer{k.sign, nil} {
		b, err := Encode(ix, s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"index":{"format":1,"kernels":{}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Decode(b, nil, true)
		if err != nil {
			return
		}
		for r, es := range d.Index.Kernels {
			for _, e := range es {
				if e.Release != r || path.IsAbs(e.File) || strings.Contains(e.File, "://") {
					t.Fatalf("accepted entry %+v under %q", e, r)
				}
				for _, seg := range strings.Split(e.File, "/") {
					if seg == "" || seg == "." || seg == ".." {
						t.Fatalf("accepted file %q under %q", e.File, r)
					}
				}
			}
		}
	})
}
