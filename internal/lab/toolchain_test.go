package lab

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDebianGCC(t *testing.T) {
	for _, tc := range []struct{ text, pkg, program, version, bare string }{
		{"gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0", "gcc-12", "gcc-12", "12.2.0-14+deb12u1", "(Debian 12.2.0-14+deb12u1) 12.2.0"},
		// Debian's 6.12 kernels name the compiler by its GNU type.
		{"aarch64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0", "gcc-12", "aarch64-linux-gnu-gcc-12", "12.2.0-14+deb12u1", "(Debian 12.2.0-14+deb12u1) 12.2.0"},
		{"x86_64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0", "gcc-12", "x86_64-linux-gnu-gcc-12", "12.2.0-14+deb12u1", "(Debian 12.2.0-14+deb12u1) 12.2.0"},
		{"gcc (GCC) 13.2.1 20230801", "", "", "", "(GCC) 13.2.1 20230801"},
		{"Debian clang version 14.0.6", "", "", "", "clang version 14.0.6"},
	} {
		pkg, program, version := debianGCC(tc.text)
		if pkg != tc.pkg || program != tc.program || version != tc.version {
			t.Errorf("debianGCC(%q) = %q, %q, %q; want %q, %q, %q", tc.text, pkg, program, version, tc.pkg, tc.program, tc.version)
		}
		if got := compilerVersion(tc.text); got != tc.bare {
			t.Errorf("compilerVersion(%q) = %q, want %q", tc.text, got, tc.bare)
		}
	}
	// The cross compiler Debian ships for amd64 hosts is not the native
	// one Debian builds its arm64 kernels with.
	if compilerVersion("aarch64-linux-gnu-gcc-12 (Debian 12.2.0-14) 12.2.0") == compilerVersion("gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0") {
		t.Error("the cross and native compiler texts compare equal")
	}
}

func TestParseDepends(t *testing.T) {
	show := `Package: gcc-12
Version: 12.2.0-14+deb12u1
Architecture: arm64
Depends: cpp-12 (= 12.2.0-14+deb12u1), gcc-12-base (= 12.2.0-14+deb12u1), libcc1-0 (>= 12.2.0-14+deb12u1), binutils (>= 2.40), libc6 (>= 2.36), libgmp10 (>= 2:6.2.1+dfsg1)
Recommends: libc6-dev | libc-dev
Description: GNU C compiler

Package: libc6
Version: 2.36-9+deb12u14
Depends: libgcc-s1
Pre-Depends: debconf | debconf-2.0

Package: zlib1g
Version: 1:1.2.13.dfsg-1
`
	got := parseDepends([]byte(show), "arm64")
	want := map[string][]string{
		"gcc-12": {"cpp-12:arm64=12.2.0-14+deb12u1", "gcc-12-base:arm64=12.2.0-14+deb12u1", "libcc1-0:arm64", "binutils:arm64", "libc6:arm64", "libgmp10:arm64"},
		"libc6":  {"libgcc-s1:arm64", "debconf:arm64"},
		"zlib1g": {},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseDepends = %q\nwant %q", got, want)
	}
	if got := pkgName("gcc-12:arm64=12.2.0-14+deb12u1"); got != "gcc-12" {
		t.Errorf("pkgName = %q", got)
	}
}

func TestToolchainPackages(t *testing.T) {
	a, _ := archByDebian("arm64")
	got := toolchainPackages("gcc-12", "12.2.0-14+deb12u1", a)
	want := []string{"gcc-12:arm64=12.2.0-14+deb12u1", "binutils-aarch64-linux-gnu:arm64"}
	if hostDebianArch() == "arm64" {
		want = []string{"gcc-12=12.2.0-14+deb12u1", "binutils-aarch64-linux-gnu"}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("toolchainPackages = %q, want %q", got, want)
	}
}

func TestWriteToolchainDriver(t *testing.T) {
	a, _ := archByDebian("arm64")
	root := filepath.Join(t.TempDir(), "toolchain")
	if _, err := writeToolchainDriver(root, "gcc-12", "/usr/bin/qemu-aarch64", a); err == nil {
		t.Error("a root without usr/bin/gcc-12 was accepted")
	}
	if err := os.MkdirAll(filepath.Join(root, "usr", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr", "bin", "gcc-12"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	driver, err := writeToolchainDriver(root, "gcc-12", "/usr/bin/qemu-aarch64", a)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(driver)
	if err != nil {
		t.Fatal(err)
	}
	// gcc runs as "gcc-12", so that --version prints the kernel's
	// CONFIG_CC_VERSION_TEXT, and -wrapper runs cc1 and as under QEMU too.
	want := "exec '/usr/bin/qemu-aarch64' -L '" + root + "' '" + root + "/usr/bin/gcc-12' -wrapper '/usr/bin/qemu-aarch64,-L," + root + "' \"$@\"\n"
	if !strings.HasPrefix(string(b), "#!/bin/sh\n") || !strings.HasSuffix(string(b), want) {
		t.Errorf("driver script:\n%s\nwant it to end with\n%s", b, want)
	}
	// gcc looks for as in its tool directory, never in the host's PATH.
	as, err := os.Readlink(filepath.Join(root, "usr", "aarch64-linux-gnu", "bin", "as"))
	if err != nil || as != "../../bin/aarch64-linux-gnu-as" {
		t.Errorf("tooldir as -> %q, %v", as, err)
	}
	// Made again over an existing root (a rerun of the stage's function).
	if _, err := writeToolchainDriver(root, "gcc-12", "/usr/bin/qemu-aarch64", a); err != nil {
		t.Error(err)
	}
	if _, err := writeToolchainDriver(root+",x", "gcc-12", "/usr/bin/qemu-aarch64", a); err == nil {
		t.Error("a root with a comma was accepted; -wrapper splits at commas")
	}
}

// TestNeedsNativeToolchain checks the compiler choice for the kernels the
// lab fetches on an amd64 host, with the compilers Debian 12 ships
// (November 2026): the host's gcc-12 for amd64, and for arm64, whose
// kernels were built with the native gcc 12.2.0-14+deb12u1, not the cross
// compiler 12.2.0-14cross1 (--version "(Debian 12.2.0-14)"), the native
// one; a cross compiler of the kernel's very build would be used as it is.
func TestNeedsNativeToolchain(t *testing.T) {
	const (
		hostGCC  = "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"
		hostGCCx = "x86_64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"
		cross    = "aarch64-linux-gnu-gcc-12 (Debian 12.2.0-14) 12.2.0"
		crossFix = "aarch64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0"
	)
	for _, tc := range []struct {
		name, arch, hostCC, ccText string
		want                       bool
	}{
		{"6.1 amd64", "amd64", hostGCC, "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0", false},
		{"6.12 amd64", "amd64", hostGCCx, "x86_64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0", false},
		{"6.1 arm64", "arm64", "aarch64-linux-gnu-gcc-12 (Debian 12.2.0-14) 12.2.0", "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0", true},
		{"6.12 arm64", "arm64", cross, "aarch64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0", true},
		{"6.12 arm64, matching cross compiler", "arm64", crossFix, "aarch64-linux-gnu-gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0", false},
	} {
		if got := needsNativeToolchain(tc.arch, "amd64", tc.hostCC, tc.ccText); got != tc.want {
			t.Errorf("%s: needsNativeToolchain = %v, want %v", tc.name, got, tc.want)
		}
	}
}
