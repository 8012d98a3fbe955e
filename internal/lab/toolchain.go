package lab

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/run"
)

// A foreign-architecture kernel (arm64 on an amd64 host) is built with the
// host's cross compiler only when that compiler is the very one the kernel
// was built with. Debian builds its kernels with the architecture's native
// gcc, whose Debian revision (12.2.0-14+deb12u1) the cross compiler it
// ships for other hosts (12.2.0-14cross1) does not share, and the two
// compile some functions differently. Then the lab fetches the native
// toolchain itself, at the kernel's version, into the kernel's cache
// (toolchain/), and runs it under user-mode QEMU: qemu-aarch64 -L toolchain
// runs the arm64 gcc with the sysroot's own dynamic loader and libraries,
// and gcc's -wrapper option runs cc1 and as under the same emulator. No
// binfmt_misc registration is needed or made; the host kernel is not
// touched.

// compilerVersion is a compiler's version text without its program name:
// "(Debian 12.2.0-14+deb12u1) 12.2.0" for "gcc-12 (Debian ...) 12.2.0".
// It is what objects record in .comment ("GCC: (Debian ...) 12.2.0").
func compilerVersion(text string) string {
	_, v, _ := strings.Cut(strings.TrimSpace(text), " ")
	return v
}

var debianGCCRe = regexp.MustCompile(`^(gcc-\d+) \(Debian ([^)\s]+)\) `)

// debianGCC returns the package name and Debian version of the gcc named
// by a CONFIG_CC_VERSION_TEXT, "gcc-12" and "12.2.0-14+deb12u1", or "" when
// the text is not a Debian gcc's.
func debianGCC(text string) (pkg, version string) {
	m := debianGCCRe.FindStringSubmatch(text)
	if m == nil {
		return "", ""
	}
	return m[1], m[2]
}

// toolchainPackages are the packages of the native toolchain that compiles
// kernel objects: the compiler and the assembler (the rest comes in as
// their dependencies).
func toolchainPackages(gcc, version string, a *arch.Arch) []string {
	return []string{
		qualify(gcc, a.Debian) + "=" + version,
		qualify("binutils-"+strings.ReplaceAll(a.GNUType, "_", "-"), a.Debian),
	}
}

// depends returns, for each package of pkgs ("name:arch" or
// "name:arch=version"), the packages it depends on (Depends and
// Pre-Depends, first alternative), of arch; a dependency on an exact
// version ("(= 12.2.0-14+deb12u1)") is pinned to it. One apt-cache call
// for all: each takes a second here.
func (a *apt) depends(ctx context.Context, pkgs []string, arch string) (map[string][]string, error) {
	args := append([]string{"show", "--no-all-versions"}, pkgs...)
	out, err := run.Command(ctx, "", "apt-cache", args...)
	if err != nil {
		return nil, fmt.Errorf("apt-cache show: %w", err)
	}
	return parseDepends(out, arch), nil
}

var dependRe = regexp.MustCompile(`^([a-z0-9][a-z0-9+.-]*)(?::[a-z0-9]+)?\s*(?:\(\s*([<>=]+)\s*([^)\s]+)\s*\))?`)

// parseDepends reads the Package, Depends and Pre-Depends fields of each
// stanza of apt-cache show output.
func parseDepends(show []byte, arch string) map[string][]string {
	deps := map[string][]string{}
	name := ""
	sc := bufio.NewScanner(bytes.NewReader(show))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		field, value, ok := strings.Cut(sc.Text(), ": ")
		switch {
		case !ok:
		case field == "Package":
			name = value
			if _, ok := deps[name]; !ok {
				deps[name] = []string{}
			}
		case field == "Depends" || field == "Pre-Depends":
			for _, d := range strings.Split(value, ",") {
				first, _, _ := strings.Cut(d, "|")
				m := dependRe.FindStringSubmatch(strings.TrimSpace(first))
				if m == nil {
					continue
				}
				p := qualify(m[1], arch)
				if m[2] == "=" {
					p += "=" + m[3]
				}
				deps[name] = append(deps[name], p)
			}
		}
	}
	return deps
}

// closure returns roots and everything they depend on, as apt-get download
// arguments, sorted.
func (a *apt) closure(ctx context.Context, roots []string, arch string) ([]string, error) {
	seen := map[string]string{} // name -> "name:arch[=version]"
	level := roots
	for len(level) > 0 {
		var ask []string
		for _, p := range level {
			name := pkgName(p)
			if _, ok := seen[name]; !ok {
				seen[name] = p
				ask = append(ask, p)
			}
		}
		if len(ask) == 0 {
			break
		}
		deps, err := a.depends(ctx, ask, arch)
		if err != nil {
			return nil, err
		}
		level = nil
		for _, p := range ask {
			d, ok := deps[pkgName(p)]
			if !ok {
				return nil, &NotServedError{Package: p}
			}
			level = append(level, d...)
		}
	}
	var all []string
	for _, p := range seen {
		all = append(all, p)
	}
	sort.Strings(all)
	return all, nil
}

// pkgName is the package name of "name:arch=version".
func pkgName(p string) string {
	name, _, _ := strings.Cut(p, "=")
	name, _, _ = strings.Cut(name, ":")
	return name
}

// toolchainDriver is the script, in the toolchain's root, that Kbuild runs
// as CC: gcc under qemu-user, and its subprocesses too.
const toolchainDriver = "kgcc"

// writeToolchainDriver makes the toolchain extracted into root runnable on
// this host: the tool directory where gcc looks for `as` natively (binutils'
// /usr/bin/as symlink would be looked up in the host's PATH) and the driver
// script. gcc's --version names the program it was run as, gcc-12, which is
// how Kconfig's CONFIG_CC_VERSION_TEXT stays the image's.
func writeToolchainDriver(root, gcc, qemu string, a *arch.Arch) (string, error) {
	if strings.ContainsAny(root+qemu, "',\n") {
		return "", fmt.Errorf("toolchain: path %q or %q contains a quote or comma, which gcc's -wrapper cannot carry", root, qemu)
	}
	gccPath := filepath.Join(root, "usr", "bin", gcc)
	if _, err := os.Stat(gccPath); err != nil {
		return "", fmt.Errorf("toolchain: %w", err)
	}
	tooldir := filepath.Join(root, "usr", a.GNUType, "bin")
	if err := os.MkdirAll(tooldir, 0o755); err != nil {
		return "", err
	}
	as := filepath.Join(tooldir, "as")
	os.Remove(as)
	if err := os.Symlink(filepath.Join("..", "..", "bin", a.GNUType+"-as"), as); err != nil {
		return "", err
	}
	script := fmt.Sprintf("#!/bin/sh\n# %s of %s's Debian toolchain, under user-mode QEMU (ksplice lab).\n"+
		"exec '%s' -L '%s' '%s' -wrapper '%s,-L,%s' \"$@\"\n",
		gcc, a.Debian, qemu, root, gccPath, qemu, root)
	driver := filepath.Join(root, toolchainDriver)
	if err := os.WriteFile(driver, []byte(script), 0o755); err != nil {
		return "", err
	}
	return driver, nil
}

// nativeToolchain is the native Debian gcc that built a kernel, to fetch
// into the kernel's cache and build its objects with.
type nativeToolchain struct {
	gcc, version string   // "gcc-12", "12.2.0-14+deb12u1"
	qemu         string   // the user-mode QEMU that runs it
	pkgs         []string // apt-get download arguments: gcc, binutils, and all they depend on
}

// nativeToolchain finds out which native toolchain built the kernel, per
// its CONFIG_CC_VERSION_TEXT, and whether the mirror serves it. The error
// wraps *NotServedError when the mirror no longer serves that gcc or a
// package it needs.
func (f *fetcher) nativeToolchain(ctx context.Context) (*nativeToolchain, error) {
	a, g := f.spec.Arch, f.guest
	gcc, version := debianGCC(f.ccText)
	if gcc == "" {
		return nil, fmt.Errorf("the kernel was built with %q, not a Debian gcc the lab can fetch", f.ccText)
	}
	if g.QEMUUser == "" || a.GNUType == "" {
		return nil, fmt.Errorf("no native toolchain is known for %s", a.Debian)
	}
	qemu, err := run.LookTool(g.QEMUUser, "qemu-user")
	if err != nil {
		return nil, err
	}
	if ok, err := f.apt.hasVersion(ctx, qualify(gcc, a.Debian), version); err != nil {
		return nil, err
	} else if !ok {
		return nil, &NotServedError{Package: qualify(gcc, a.Debian) + "=" + version}
	}
	t := &nativeToolchain{gcc: gcc, version: version, qemu: qemu}
	// What to download is needed only while the packages are not.
	if !kbuild.Complete(f.path("toolchain-debs")) {
		if t.pkgs, err = f.apt.closure(ctx, toolchainPackages(gcc, version, a), a.Debian); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// downloadToolchain is the stage toolchain-debs.
func (f *fetcher) downloadToolchain(ctx context.Context, dir string) error {
	if err := f.apt.download(ctx, dir, f.native.pkgs); err != nil {
		return fmt.Errorf("kernel %s: %w", f.spec, err)
	}
	return nil
}

// extractToolchain is the stage toolchain: the packages of toolchain-debs
// extracted into one root, with the driver that runs gcc from it.
func (f *fetcher) extractToolchain(ctx context.Context, dir string) error {
	debs, err := filepath.Glob(filepath.Join(f.path("toolchain-debs"), "*.deb"))
	if err != nil {
		return err
	}
	for _, deb := range debs {
		if err := extractDeb(ctx, deb, dir); err != nil {
			return fmt.Errorf("kernel %s: %w", f.spec, err)
		}
	}
	if _, err = writeToolchainDriver(dir, f.native.gcc, f.native.qemu, f.spec.Arch); err != nil {
		return fmt.Errorf("kernel %s: %w", f.spec, err)
	}
	return nil
}

// useNativeCompiler makes the native toolchain's driver CC, once it says
// it is the compiler the kernel was built with.
func (f *fetcher) useNativeCompiler(ctx context.Context, _ string) error {
	cc := filepath.Join(f.path("toolchain"), toolchainDriver)
	hostCC, err := kbuild.CompilerVersion(ctx, cc)
	if err != nil {
		return fmt.Errorf("kernel %s: the native toolchain under %s: %w", f.spec, f.guest.QEMUUser, err)
	}
	if compilerVersion(hostCC) != compilerVersion(f.ccText) {
		return fmt.Errorf("kernel %s was built with %q, but the native toolchain says %q", f.spec, f.ccText, hostCC)
	}
	f.cc, f.hostCC = cc, hostCC
	return nil
}
