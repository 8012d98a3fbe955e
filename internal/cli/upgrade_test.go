package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ksplice-go/ksplice/internal/apply"
	"github.com/ksplice-go/ksplice/internal/kmod"
	"github.com/ksplice-go/ksplice/internal/repo"
	"github.com/ksplice-go/ksplice/internal/sign"
	"github.com/ksplice-go/ksplice/internal/update"
)

const testRelease = "6.1.0-55-amd64"

// testUpdate writes a small valid update tarball and returns its path.
func testUpdate(t *testing.T, dir, id, release string) string {
	t.Helper()
	m := &update.Manifest{
		ID: id, Description: "test update " + id, Created: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC),
		Tool: "ksplice test", Kernel: update.Kernel{Release: release, Machine: "x86_64"},
		Patch: "patch.diff", Core: "ksplice.ko",
		Targets: []update.Target{{Name: "vmlinux", Module: "ksplice_" + id + "_vmlinux.ko"}},
	}
	var buf bytes.Buffer
	err := update.Write(&buf, m, map[string][]byte{
		"patch.diff": []byte(id), "ksplice.ko": []byte("engine"), "ksplice_" + id + "_vmlinux.ko": []byte("module " + id),
	})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, id+".tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// testKeys writes a signing key and returns the private key file and a
// keys.d directory that trusts it.
func testKeys(t *testing.T) (keyFile, keysDir string) {
	t.Helper()
	dir := t.TempDir()
	priv, _, err := sign.GenerateKey("upgrade test")
	if err != nil {
		t.Fatal(err)
	}
	keyFile = filepath.Join(dir, "ksplice.key")
	keysDir = filepath.Join(dir, "keys.d")
	os.Mkdir(keysDir, 0o755)
	if err := sign.WriteKeyFiles(keyFile, filepath.Join(keysDir, "fleet.pub"), priv, ""); err != nil {
		t.Fatal(err)
	}
	return keyFile, keysDir
}

// fakeKernel stands for the running kernel: what is applied, and the
// order apply was asked for updates.
type fakeKernel struct {
	applied map[string]bool
	calls   []string
	refuse  string // an id whose apply fails as the engine's refusal
}

func (k *fakeKernel) apply(name string) (*apply.Record, error) {
	u, err := update.ReadFile(name)
	if err != nil {
		return nil, err
	}
	id := u.Manifest.ID
	k.calls = append(k.calls, id)
	if id == k.refuse {
		return nil, fmt.Errorf("apply %s: %w: run-pre mismatch in cmdline_proc_show", id, kmod.ErrAborted)
	}
	k.applied[id] = true
	return &apply.Record{ID: id}, nil
}

type upgradeEnv struct {
	repoDir, keyFile, keysDir, repoURL string
	kernel                             *fakeKernel
}

func (e *upgradeEnv) opts(t *testing.T, args ...string) *upgradeOptions {
	o := &upgradeOptions{CacheDir: t.TempDir()}
	o.Repo, o.KeysDir, o.StateDir, o.JSON = e.repoURL, e.keysDir, t.TempDir(), true
	o.uname = func() (string, string, error) { return testRelease, "x86_64", nil }
	o.applied = func(string) (map[string]bool, error) {
		m := map[string]bool{}
		for id := range e.kernel.applied {
			m[id] = true
		}
		return m, nil
	}
	o.applyFile = e.kernel.apply
	o.client = &http.Client{Timeout: 10 * time.Second}
	for _, a := range args {
		switch a {
		case "--dry-run":
			o.DryRun = true
		case "--allow-unsigned":
			o.AllowUnsigned = true
		case "--text":
			o.JSON = false
		}
	}
	return o
}

func upgrade(t *testing.T, o *upgradeOptions) (*upgradeReport, string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := runUpgrade(context.Background(), o, Streams{Out: &out, ErrOut: &errOut})
	rep := &upgradeReport{}
	if o.JSON && out.Len() > 0 {
		if jerr := json.Unmarshal(out.Bytes(), rep); jerr != nil {
			t.Fatalf("upgrade --json printed %q: %v", out.String(), jerr)
		}
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	return rep, out.String(), msg, exitCode(err)
}

// newUpgradeEnv publishes updates a, b (for the running kernel) and c (for
// another) with ksplice publish --sign, and serves the repository on
// 127.0.0.1.
func newUpgradeEnv(t *testing.T) *upgradeEnv {
	t.Helper()
	src := t.TempDir()
	e := &upgradeEnv{repoDir: filepath.Join(t.TempDir(), "repo"), kernel: &fakeKernel{applied: map[string]bool{}}}
	e.keyFile, e.keysDir = testKeys(t)
	tars := []string{testUpdate(t, src, "a", testRelease), testUpdate(t, src, "c", "6.1.0-55-arm64")}
	_, errOut, code := run("publish", "--sign", e.keyFile, e.repoDir, tars[0], tars[1])
	if code != 0 {
		t.Fatalf("publish: exit %d: %s", code, errOut)
	}
	out, errOut, code := run("publish", "--sign", e.keyFile, e.repoDir, testUpdate(t, src, "b", testRelease))
	if code != 0 || !strings.Contains(out, "published b for "+testRelease) {
		t.Fatalf("publish b: exit %d: %s%s", code, out, errOut)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(e.repoDir)))
	t.Cleanup(srv.Close)
	e.repoURL = srv.URL
	return e
}

func states(rep *upgradeReport) []string {
	var out []string
	for _, u := range rep.Updates {
		out = append(out, u.ID+":"+u.State)
	}
	return out
}

// TestUpgradeHTTP: the first upgrade applies the running kernel's updates
// in the published order, the second changes nothing and exits 0.
func TestUpgradeHTTP(t *testing.T) {
	e := newUpgradeEnv(t)

	rep, out, msg, code := upgrade(t, e.opts(t, "--dry-run"))
	if code != 0 || rep.Changed || len(e.kernel.calls) != 0 {
		t.Fatalf("dry run: exit %d (%s), changed %v, applied %v", code, msg, rep.Changed, e.kernel.calls)
	}
	if diff := cmp.Diff([]string{"a:would-apply", "b:would-apply"}, states(rep)); diff != "" {
		t.Errorf("dry run (-want +got):\n%s\n%s", diff, out)
	}

	rep, out, msg, code = upgrade(t, e.opts(t))
	if code != 0 || !rep.Changed || !rep.Signed || rep.KeyID == "" {
		t.Fatalf("first upgrade: exit %d (%s):\n%s", code, msg, out)
	}
	if diff := cmp.Diff([]string{"a", "b"}, e.kernel.calls); diff != "" {
		t.Errorf("apply order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a:applied", "b:applied"}, states(rep)); diff != "" {
		t.Errorf("first upgrade (-want +got):\n%s", diff)
	}

	_, out, msg, code = upgrade(t, e.opts(t, "--text"))
	if code != 0 || len(e.kernel.calls) != 2 || !strings.Contains(out, "nothing to do: all 2 updates for "+testRelease+" are applied") {
		t.Errorf("second upgrade: exit %d (%s), applied %v:\n%s", code, msg, e.kernel.calls, out)
	}
	rep, _, _, _ = upgrade(t, e.opts(t))
	if rep.Changed {
		t.Error("second upgrade --json says changed")
	}

	// show --available sees the same.
	var sout bytes.Buffer
	so := &showOptions{repoOptions: e.opts(t).repoOptions, Available: true}
	so.JSON = false
	if err := runShowAvailable(context.Background(), so, Streams{Out: &sout, ErrOut: &sout}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"a   applied  test update a", "b   applied  test update b"} {
		if !strings.Contains(sout.String(), want) {
			t.Errorf("show --available lacks %q:\n%s", want, sout.String())
		}
	}
	if strings.Contains(sout.String(), "test update c") {
		t.Errorf("show --available lists another kernel's update:\n%s", sout.String())
	}
}

// TestUpgradeRefusals breaks the repository, the trust or the network in
// each way and checks that upgrade says so clearly, with the documented
// exit code, and applies nothing.
func TestUpgradeRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, e *upgradeEnv, o *upgradeOptions)
		code  int
		want  string
	}{
		{"tampered index", func(t *testing.T, e *upgradeEnv, o *upgradeOptions) {
			replaceIn(t, filepath.Join(e.repoDir, repo.IndexName), "test update b", "evil update b")
		}, ExitRefused, "bad signature"},
		{"tampered tarball", func(t *testing.T, e *upgradeEnv, o *upgradeOptions) {
			// The second update: the first must not be applied either.
			p := filepath.Join(e.repoDir, "updates", testRelease, "b.tar")
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 0x20
			os.WriteFile(p, b, 0o644)
		}, ExitRefused, "b (b.tar): sha256"},
		{"missing tarball", func(t *testing.T, e *upgradeEnv, o *upgradeOptions) {
			os.Remove(filepath.Join(e.repoDir, "updates", testRelease, "b.tar"))
		}, ExitError, "404"},
		{"untrusted key", func(t *testing.T, e *upgradeEnv, o *upgradeOptions) {
			_, o.KeysDir = testKeys(t)
		}, ExitRefused, "untrusted key"},
		{"no trusted keys", func(t *testing.T, e *upgradeEnv, o *upgradeOptions) {
			o.KeysDir = filepath.Join(t.TempDir(), "none")
		}, ExitRefused, "untrusted key"},
		{"unsigned index", func(t *testing.T, e *upgradeEnv, o *upgradeOptions) {
			if _, errOut, code := run("publish", e.repoDir); code != 0 {
				t.Fatalf("publish unsigned: %s", errOut)
			}
		}, ExitRefused, "not signed"},
		{"network error", func(t *testing.T, e *upgradeEnv, o *upgradeOptions) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			o.Repo = "http://" + l.Addr().String() + "/"
			l.Close()
		}, ExitError, "connection refused"},
		{"not a repository", func(t *testing.T, e *upgradeEnv, o *upgradeOptions) {
			o.Repo = e.repoURL + "/updates/"
		}, ExitError, "not a ksplice repository"},
		{"another machine", func(t *testing.T, e *upgradeEnv, o *upgradeOptions) {
			o.uname = func() (string, string, error) { return testRelease, "aarch64", nil }
		}, ExitRefused, "this machine is aarch64"},
		{"no repository", func(t *testing.T, e *upgradeEnv, o *upgradeOptions) {
			o.Repo, o.RepoConfig = "", filepath.Join(t.TempDir(), "repo")
		}, ExitUsage, "no repository"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newUpgradeEnv(t)
			o := e.opts(t)
			tc.setup(t, e, o)
			_, out, msg, code := upgrade(t, o)
			if code != tc.code || !strings.Contains(msg, tc.want) {
				t.Errorf("exit %d, error %q; want exit %d mentioning %q\n%s", code, msg, tc.code, tc.want, out)
			}
			if len(e.kernel.calls) != 0 {
				t.Errorf("applied %v", e.kernel.calls)
			}
		})
	}
}

func replaceIn(t *testing.T, name, old, new string) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s has no %q", name, old)
	}
	os.WriteFile(name, bytes.ReplaceAll(b, []byte(old), []byte(new)), 0o644)
}

// TestUpgradeStopsAtRefusal: the kernel refuses the second update; the
// first stays applied, the refusal is the exit code, and a run after the
// cause is gone applies only what is missing.
func TestUpgradeStopsAtRefusal(t *testing.T) {
	e := newUpgradeEnv(t)
	e.kernel.refuse = "a"
	rep, _, msg, code := upgrade(t, e.opts(t))
	if code != ExitRefused || !strings.Contains(msg, "run-pre mismatch") {
		t.Errorf("exit %d (%s), want %d", code, msg, ExitRefused)
	}
	if diff := cmp.Diff([]string{"a:failed", "b:not-attempted"}, states(rep)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if rep.Updates[0].Error == "" || rep.Error == "" {
		t.Error("the report does not carry the error")
	}
	e.kernel.refuse = ""
	e.kernel.calls = nil
	if _, _, msg, code := upgrade(t, e.opts(t)); code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	if diff := cmp.Diff([]string{"a", "b"}, e.kernel.calls); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestUpgradeRepoConfig: without --repo the first line of the config file
// that is not a comment names the repository (a directory here).
func TestUpgradeRepoConfig(t *testing.T) {
	e := newUpgradeEnv(t)
	conf := filepath.Join(t.TempDir(), "repo")
	os.WriteFile(conf, []byte("# the fleet's repository\n\n"+e.repoDir+"\n"), 0o644)
	o := e.opts(t)
	o.Repo, o.RepoConfig = "", conf
	rep, _, msg, code := upgrade(t, o)
	if code != 0 || rep.Repo != e.repoDir || len(e.kernel.calls) != 2 {
		t.Errorf("exit %d (%s), repo %q, applied %v", code, msg, rep.Repo, e.kernel.calls)
	}
}

func TestPublishConflictExitCode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "repo")
	if _, errOut, code := run("publish", dir, testUpdate(t, t.TempDir(), "a", testRelease)); code != 0 {
		t.Fatal(errOut)
	}
	// The same id and release, other contents.
	u := testUpdateContents(t, "a", testRelease, "rebuilt")
	_, errOut, code := run("publish", dir, u)
	if code != ExitRefused || !strings.Contains(errOut, "already published") {
		t.Errorf("exit %d, stderr %q; want %d", code, errOut, ExitRefused)
	}
}

func testUpdateContents(t *testing.T, id, release, payload string) string {
	t.Helper()
	m := &update.Manifest{ID: id, Kernel: update.Kernel{Release: release, Machine: "x86_64"}, Core: "ksplice.ko",
		Patch: "patch.diff", Targets: []update.Target{{Name: "vmlinux", Module: "m.ko"}}}
	var buf bytes.Buffer
	if err := update.Write(&buf, m, map[string][]byte{"patch.diff": []byte(payload), "ksplice.ko": nil, "m.ko": nil}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), id+".tar")
	os.WriteFile(p, buf.Bytes(), 0o644)
	return p
}

// TestUpgradeAllowUnsigned: --allow-unsigned takes an index signed by a key
// that is not trusted, with a warning, and an unsigned one; a signature
// that does not verify is refused all the same.
func TestUpgradeAllowUnsigned(t *testing.T) {
	e := newUpgradeEnv(t)
	o := e.opts(t, "--allow-unsigned")
	_, o.KeysDir = testKeys(t) // another key
	var out, errOut bytes.Buffer
	err := runUpgrade(context.Background(), o, Streams{Out: &out, ErrOut: &errOut})
	if err != nil || len(e.kernel.calls) != 2 || !strings.Contains(errOut.String(), "warning: repository index") ||
		!strings.Contains(errOut.String(), "untrusted key") {
		t.Errorf("untrusted key, --allow-unsigned: err %v, applied %v, stderr %q", err, e.kernel.calls, errOut.String())
	}

	e = newUpgradeEnv(t)
	replaceIn(t, filepath.Join(e.repoDir, repo.IndexName), "test update b", "evil update b")
	_, _, msg, code := upgrade(t, e.opts(t, "--allow-unsigned"))
	if code != ExitRefused || !strings.Contains(msg, "bad signature") || len(e.kernel.calls) != 0 {
		t.Errorf("tampered, --allow-unsigned: exit %d (%s), applied %v", code, msg, e.kernel.calls)
	}

	e = newUpgradeEnv(t)
	if _, errOut, code := run("publish", e.repoDir); code != 0 {
		t.Fatal(errOut)
	}
	rep, _, msg, code := upgrade(t, e.opts(t, "--allow-unsigned"))
	if code != 0 || rep.Signed || len(e.kernel.calls) != 2 {
		t.Errorf("unsigned, --allow-unsigned: exit %d (%s), signed %v, applied %v", code, msg, rep.Signed, e.kernel.calls)
	}
}

func TestShowNeedsAvailable(t *testing.T) {
	_, errOut, code := run("show")
	if code != ExitUsage || !strings.Contains(errOut, "--available") {
		t.Errorf("ksplice show: exit %d, stderr %q", code, errOut)
	}
}
