package lab

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/run"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// SourceOptions describe a kernel tree of the user's own: the source the
// running kernel was built from, its configuration, and its headers.
type SourceOptions struct {
	Source   string // the kernel source tree; only read
	Config   string // the kernel's .config; default Source/.config
	Headers  string // headers to build modules against; default /lib/modules/RELEASE/build
	CacheDir string // see CacheDir
	Log      io.Writer
	Jobs     int
}

// FromSource prepares a user's kernel tree for building objects the way
// Fetch prepares a distribution's: an O= build tree configured with the
// kernel's config, in the cache under a key of the tree's path and config,
// so the user's tree is never written. The release comes from the headers.
func FromSource(ctx context.Context, o SourceOptions) (*Kernel, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Jobs <= 0 {
		o.Jobs = 2
	}
	src, err := filepath.Abs(o.Source)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(src, "Kbuild")); err != nil {
		return nil, fmt.Errorf("--src %s: not a kernel source tree (no Kbuild file)", src)
	}
	if _, err := os.Stat(filepath.Join(src, "include", "config", "auto.conf")); err == nil {
		return nil, fmt.Errorf("--src %s: the tree has been built in place; Kbuild builds elsewhere (O=) only from a clean tree: use a clean copy, or 'make mrproper' in a copy", src)
	}
	config := o.Config
	if config == "" {
		config = filepath.Join(src, ".config")
	}
	cfg, err := os.ReadFile(config)
	if err != nil {
		return nil, fmt.Errorf("kernel config: %w (--config FILE: the running kernel's, e.g. /boot/config-$(uname -r))", err)
	}
	arch, err := archOfConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kernel config %s: %w", config, err)
	}
	headers := o.Headers
	if headers == "" {
		return nil, fmt.Errorf("--headers: the running kernel's headers are needed (/lib/modules/$(uname -r)/build)")
	}
	release, err := headersRelease(headers)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte(src+"\x00"), cfg...))
	dir := filepath.Join(CacheDir(o.CacheDir), "kernels", "src", release+"-"+hex.EncodeToString(sum[:])[:12])
	cc, ccText, err := compilerFromConfig(config, arch)
	if err != nil {
		return nil, err
	}
	k := &Kernel{
		Format: kernelFormat, Spec: "src:" + src, Release: release, Arch: arch.Debian,
		Dir: dir, Config: config, Headers: headers, Source: src, Build: filepath.Join(dir, "build"),
		MakeVars: makeVars(cc, release, arch), Compiler: ccText,
	}
	if out, err := run.Command(ctx, "", cc, "--version"); err == nil {
		k.HostCompiler = strings.SplitN(string(out), "\n", 2)[0]
	}
	unlock, err := k.Lock(func() { fmt.Fprintf(o.Log, "lab: waiting for another ksplice preparing %s\n", src) })
	if err != nil {
		return nil, err
	}
	defer unlock()
	f := &fetcher{spec: Spec{Arch: arch}, dir: dir, log: o.Log, jobs: o.Jobs}
	err = f.stage(fmt.Sprintf("configure and prepare %s (make olddefconfig prepare, %s)", src, cc), k.Build, func(d string) error {
		return prepareBuild(ctx, src, d, cfg, k.MakeVars, o.Jobs)
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// makeVars are the make variables that build for a kernel release with cc,
// cross-compiling for a foreign architecture.
func makeVars(cc, release string, a *arch.Arch) []string {
	vars := []string{"CC=" + cc, "KERNELRELEASE=" + release}
	if a.Debian != hostDebianArch() {
		vars = append(vars, "ARCH="+a.SrcArch, "CROSS_COMPILE="+crossCompile(a))
	}
	return vars
}

// prepareBuild configures the O= tree dir for src with cfg.
func prepareBuild(ctx context.Context, src, dir string, cfg []byte, vars []string, jobs int) error {
	if err := os.WriteFile(filepath.Join(dir, ".config"), cfg, 0o644); err != nil {
		return err
	}
	mk := append([]string{"-C", src, "O=" + dir}, vars...)
	mk = append(mk, "-s", fmt.Sprintf("-j%d", jobs), "olddefconfig", "prepare")
	if _, err := run.Command(ctx, "", "make", mk...); err != nil {
		return fmt.Errorf("prepare source tree: %w", err)
	}
	return nil
}

func archOfConfig(cfg []byte) (*arch.Arch, error) {
	sc := bufio.NewScanner(strings.NewReader(string(cfg)))
	for sc.Scan() {
		switch sc.Text() {
		case "CONFIG_X86_64=y":
			return archByDebian("amd64")
		case "CONFIG_ARM64=y":
			return archByDebian("arm64")
		}
	}
	return nil, fmt.Errorf("%w: neither CONFIG_X86_64 nor CONFIG_ARM64 is set", verdict.ErrUnsupported)
}

// headersRelease reads the kernel release a headers tree is for, from
// UTS_RELEASE, which modules' vermagic uses (Debian's
// include/config/kernel.release holds the upstream version instead).
func headersRelease(headers string) (string, error) {
	b, err := os.ReadFile(filepath.Join(headers, "include", "generated", "utsrelease.h"))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("--headers %s: no include/generated/utsrelease.h; not a prepared headers tree", headers)
	}
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`#define UTS_RELEASE "([^"]+)"`).FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("--headers %s: no UTS_RELEASE in utsrelease.h", headers)
	}
	return string(m[1]), nil
}
