package kbuild

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/run"
)

// Kernel is a configured kernel tree in the cache: its source and O= tree
// (the Tree), its headers, and what it was built with. lab.Fetch prepares
// one for a distribution kernel, FromSource for a user's tree. Its JSON form
// is what the lab keeps in kernel.json and `ksplice lab fetch --json`
// prints, and is stable.
type Kernel struct {
	Format  int    `json:"format"`  // KernelFormat; an older kernel.json is rewritten
	Spec    string `json:"spec"`    // "debian:6.1.0-55-amd64", or "src:DIR" (FromSource)
	Release string `json:"release"` // uname -r of the kernel
	Arch    string `json:"arch"`    // Debian architecture: "amd64", "arm64"
	Version string `json:"version"` // package version of image, headers and source

	Dir     string `json:"dir"`     // the kernel's directory in the cache
	Image   string `json:"image"`   // bootable kernel image (bzImage / Image)
	Config  string `json:"config"`  // the image's .config
	Modules string `json:"modules"` // /lib/modules/RELEASE of the image
	Headers string `json:"headers"` // headers tree: make -C Headers M=DIR modules
	// Tree is the pristine source, never written after it is prepared, and
	// the O= tree configured like the image.
	Tree
	Busybox string `json:"busybox"` // statically linked busybox for the guest

	// Compiler is CONFIG_CC_VERSION_TEXT, the compiler the image was built
	// with; HostCompiler is what `CC --version` says on this machine.
	Compiler     string `json:"compiler"`
	HostCompiler string `json:"host_compiler"`
	// Toolchain is the root of the kernel architecture's native toolchain,
	// run under user-mode QEMU, when CC is that (see package lab); "" when
	// CC is a compiler of the host.
	Toolchain string `json:"toolchain,omitempty"`

	Packages map[string]string `json:"packages"` // package name -> version used
}

// KernelFormat is the version of Kernel's JSON form.
const KernelFormat = 3

// Lock takes the kernel's cache lock (see Lock), for work that writes into
// the kernel's directory. waiting is called if another process holds it.
func (k *Kernel) Lock(waiting func()) (unlock func(), err error) {
	return Lock(k.Dir, waiting)
}

// Machine returns the kernel's architecture. The error wraps
// arch.ErrUnsupportedArch.
func (k *Kernel) Machine() (*arch.Arch, error) {
	return arch.ByName(k.Arch)
}

// SrcArch is the kernel's own name of the kernel's architecture (SRCARCH):
// "x86", "arm64"; "" for an architecture ksplice does not know.
func (k *Kernel) SrcArch() string {
	if a, err := k.Machine(); err == nil {
		return a.SrcArch
	}
	return ""
}

// foreign reports whether code for a is cross-compiled on this host.
func foreign(a *arch.Arch) bool { return a.GOARCH != runtime.GOARCH }

// crossCompile is Kbuild's CROSS_COMPILE for a on this host: "" for the
// host's own architecture, else the prefix of Debian's cross compiler.
func crossCompile(a *arch.Arch) string {
	if !foreign(a) {
		return ""
	}
	return a.GNUType + "-"
}

// MakeVars returns the make variables that build for a kernel release of
// architecture a with the compiler cc, cross-compiling for a foreign
// architecture.
func MakeVars(cc, release string, a *arch.Arch) []string {
	vars := []string{"CC=" + cc, "KERNELRELEASE=" + release}
	if foreign(a) {
		vars = append(vars, "ARCH="+a.SrcArch, "CROSS_COMPILE="+crossCompile(a))
	}
	return vars
}

// ConfigCompiler reads the CONFIG_CC_VERSION_TEXT of the kernel config file
// and returns it and the compiler command to build with: the same gcc major
// version, cross-prefixed when the kernel is for another architecture than
// the host's.
func ConfigCompiler(config string, a *arch.Arch) (cc, text string, err error) {
	text, err = ConfigCompilerText(config)
	if err != nil {
		return "", "", err
	}
	name := strings.Fields(text)[0] // "gcc-12"
	if !strings.HasPrefix(name, "gcc") {
		return "", "", fmt.Errorf("kernel config %s: compiler %q is not gcc", config, text)
	}
	cc = crossCompile(a) + name
	if _, err := exec.LookPath(cc); err != nil {
		return "", "", fmt.Errorf("kernel was built with %q but %s is not installed (make deps)", text, cc)
	}
	return cc, text, nil
}

// ConfigCompilerText reads CONFIG_CC_VERSION_TEXT from a kernel config file.
func ConfigCompilerText(config string) (string, error) {
	f, err := os.Open(config)
	if err != nil {
		return "", fmt.Errorf("kernel config: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CONFIG_CC_VERSION_TEXT="); ok {
			return strings.Trim(v, `"`), nil
		}
	}
	return "", fmt.Errorf("kernel config %s: no CONFIG_CC_VERSION_TEXT", config)
}

// CompilerVersion is the first line of `cc --version`. A failure is a
// *run.Error.
func CompilerVersion(ctx context.Context, cc string) (string, error) {
	out, err := run.Command(ctx, "", cc, "--version")
	if err != nil {
		return "", err
	}
	return strings.SplitN(string(out), "\n", 2)[0], nil
}
