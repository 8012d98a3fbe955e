// Package deb_test builds the Debian package with make deb and checks it
// the way dpkg and lintian see it: its control fields and contents, lintian
// (no error or warning), and an install, a run of the installed binary, a
// removal and a purge in a scratch root with dpkg --root, where the
// maintainer scripts run chrooted against a stand-in deb-systemd-helper.
// Nothing is installed on the host, and the unit is never started.
package deb_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// top is the repository's top directory.
const top = "../.."

func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out.String(), errOut.String())
	}
	return out.String()
}

// buildDeb runs make deb into a temporary directory, once per test process.
func buildDeb(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("make deb builds the binary and runs lintian: not in -short")
	}
	for _, tool := range []string{"dpkg-deb", "dpkg", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (make deps installs it): %v", tool, err)
		}
	}
	deb := filepath.Join(t.TempDir(), "ksplice.deb")
	run(t, top, "make", "-s", "deb", "DEB="+deb)
	return deb
}

func TestDeb(t *testing.T) {
	deb := buildDeb(t)

	t.Run("control", func(t *testing.T) {
		info := run(t, ".", "dpkg-deb", "-f", deb, "Package", "Architecture", "Version")
		arch := strings.TrimSpace(run(t, ".", "dpkg", "--print-architecture"))
		for _, want := range []string{"Package: ksplice\n", "Architecture: " + arch + "\n", "Version: 0~"} {
			if !strings.Contains(info, want) {
				t.Errorf("control lacks %q:\n%s", want, info)
			}
		}
		scripts := run(t, ".", "dpkg-deb", "-I", deb)
		for _, s := range []string{"postinst", "postrm", "md5sums"} {
			if !strings.Contains(scripts, s) {
				t.Errorf("control archive lacks %s:\n%s", s, scripts)
			}
		}
	})

	t.Run("contents", func(t *testing.T) {
		list := run(t, ".", "dpkg-deb", "-c", deb)
		want := []string{
			"./usr/bin/ksplice",
			"./lib/systemd/system/ksplice.service",
			"./usr/share/ksplice/kmod-src/ksplice_core.c",
			"./usr/share/ksplice/kmod-src/Kbuild",
			"./usr/share/ksplice/kmod-src/arch/x86/ksplice_arch.c",
			"./usr/share/man/man1/ksplice.1.gz",
			"./usr/share/bash-completion/completions/ksplice",
			"./usr/share/zsh/vendor-completions/_ksplice",
			"./usr/share/doc/ksplice/copyright",
			"./usr/share/doc/ksplice/changelog.gz",
			"./usr/share/lintian/overrides/ksplice",
		}
		// A man page for every command of the tree (cobra/doc names
		// them ksplice-SUB-SUB.1), the repository commands among them.
		for _, c := range []string{"apply", "create", "upgrade", "publish", "show", "lab-run", "undo", "list"} {
			want = append(want, "./usr/share/man/man1/ksplice-"+c+".1.gz")
		}
		for _, w := range want {
			if !strings.Contains(list, " "+w+"\n") {
				t.Errorf("package lacks %s", w)
			}
		}
		for _, l := range strings.Split(strings.TrimSpace(list), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[1] != "root/root" {
				t.Errorf("not owned by root: %s", l)
			}
		}
	})

	t.Run("lintian", func(t *testing.T) {
		if _, err := exec.LookPath("lintian"); err != nil {
			t.Fatalf("lintian is missing (make deps installs it): %v", err)
		}
		cmd := exec.Command("lintian", "--display-info", "--pedantic", "--fail-on", "error,warning", deb)
		out, err := cmd.CombinedOutput()
		t.Logf("lintian --display-info --pedantic:\n%s", out)
		if err != nil {
			t.Errorf("lintian: %v", err)
		}
	})

	t.Run("install", func(t *testing.T) { testInstall(t, deb) })
}

// testInstall installs the package into a scratch root with dpkg --root:
// dpkg runs the maintainer scripts chrooted into it, with a static busybox
// as /bin/sh and a stand-in deb-systemd-helper that records its arguments,
// so the scripts are exercised without touching the host's systemd.
func testInstall(t *testing.T, deb string) {
	if os.Geteuid() != 0 {
		t.Skip("dpkg --root runs the maintainer scripts in a chroot, which needs root")
	}
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox is missing (make deps installs busybox-static): %v", err)
	}
	if out, _ := exec.Command("file", "-L", busybox).Output(); len(out) > 0 && !bytes.Contains(out, []byte("statically linked")) {
		t.Fatalf("%s is not static: %s", busybox, out)
	}
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "bin", "usr/bin", "dev", "var/log"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, s string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(root, name), []byte(s), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("var/lib/dpkg/status", "", 0o644)
	write("dev/null", "", 0o666) // a plain file serves the scripts' redirections
	b, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	write("bin/sh", string(b), 0o755)
	write("usr/bin/deb-systemd-helper", "#!/bin/sh\necho \"$*\" >> /var/log/deb-systemd-helper\n", 0o755)
	dpkg := func(args ...string) string {
		t.Helper()
		return run(t, ".", "dpkg", append([]string{"--root=" + root}, args...)...)
	}
	log := func() string {
		b, _ := os.ReadFile(filepath.Join(root, "var/log/deb-systemd-helper"))
		return string(b)
	}

	dpkg("-i", deb)
	if st := dpkg("-s", "ksplice"); !strings.Contains(st, "Status: install ok installed") {
		t.Fatalf("dpkg -s:\n%s", st)
	}
	// postinst registered the unit, enabled on a first install, and
	// started nothing.
	if got, want := log(), "unmask ksplice.service\n--quiet was-enabled ksplice.service\nenable ksplice.service\n"; got != want {
		t.Errorf("postinst ran deb-systemd-helper as:\n%s\nwant:\n%s", got, want)
	}
	// The installed binary runs (it is static: no libraries in the root)
	// and finds the engine sources where create looks for them.
	if runtime.GOARCH == strings.TrimSpace(run(t, ".", "dpkg", "--print-architecture")) {
		out := run(t, ".", filepath.Join(root, "usr/bin/ksplice"), "--version")
		if !strings.HasPrefix(out, "ksplice version ") {
			t.Errorf("ksplice --version: %q", out)
		}
		help := run(t, ".", filepath.Join(root, "usr/bin/ksplice"), "upgrade", "--help")
		if !strings.Contains(help, "--dry-run") {
			t.Errorf("installed ksplice has no upgrade --dry-run:\n%s", help)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "usr/share/ksplice/kmod-src/ksplice.h")); err != nil {
		t.Errorf("engine sources: %v", err)
	}
	man := gunzip(t, filepath.Join(root, "usr/share/man/man1/ksplice-upgrade.1.gz"))
	for _, want := range []string{`.TH "KSPLICE" "1"`, "--dry-run", "Exit codes"} {
		if !strings.Contains(man, want) {
			t.Errorf("ksplice-upgrade.1 lacks %q", want)
		}
	}
	bash, _ := os.ReadFile(filepath.Join(root, "usr/share/bash-completion/completions/ksplice"))
	zsh, _ := os.ReadFile(filepath.Join(root, "usr/share/zsh/vendor-completions/_ksplice"))
	if !bytes.Contains(bash, []byte("__start_ksplice")) || !bytes.HasPrefix(zsh, []byte("#compdef ksplice")) {
		t.Errorf("completion scripts: bash %d bytes, zsh %d bytes, not cobra's", len(bash), len(zsh))
	}
	// Every file dpkg lists is there, and md5sums agrees with it.
	for _, f := range strings.Split(strings.TrimSpace(dpkg("-L", "ksplice")), "\n") {
		if _, err := os.Lstat(filepath.Join(root, f)); err != nil {
			t.Errorf("dpkg -L lists %s: %v", f, err)
		}
	}
	sums, err := os.ReadFile(filepath.Join(root, "var/lib/dpkg/info/ksplice.md5sums"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("md5sum", "--check", "--quiet", "-")
	cmd.Dir, cmd.Stdin = root, bytes.NewReader(sums)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("md5sums: %v\n%s", err, out)
	}

	os.Remove(filepath.Join(root, "var/log/deb-systemd-helper"))
	dpkg("-P", "ksplice")
	if got, want := log(), "mask ksplice.service\npurge ksplice.service\nunmask ksplice.service\n"; got != want {
		t.Errorf("postrm ran deb-systemd-helper as:\n%s\nwant:\n%s", got, want)
	}
	for _, f := range []string{"usr/bin/ksplice", "lib/systemd/system/ksplice.service", "usr/share/ksplice"} {
		if _, err := os.Lstat(filepath.Join(root, f)); err == nil {
			t.Errorf("%s is left after purge", f)
		}
	}
}

func gunzip(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
