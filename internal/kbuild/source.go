package kbuild

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
	"time"

	"github.com/ksplice-go/ksplice/internal/arch"
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
// lab.Fetch prepares a distribution's: an O= build tree configured with the
// kernel's config, in the cache under a key of the tree's path and config,
// so the user's tree is never written. The release comes from the headers.
// Errors wrap verdict.ErrUnsupported for a configuration of an
// architecture ksplice does not handle, and run.ErrToolMissing when make is
// missing.
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
	a, err := archOfConfig(cfg)
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
	cc, ccText, err := ConfigCompiler(config, a)
	if err != nil {
		return nil, err
	}
	k := &Kernel{
		Format: KernelFormat, Spec: "src:" + src, Release: release, Arch: a.Debian,
		Dir: dir, Config: config, Headers: headers,
		Tree:     Tree{Source: src, Build: filepath.Join(dir, "build"), MakeVars: MakeVars(cc, release, a)},
		Compiler: ccText,
	}
	if v, err := CompilerVersion(ctx, cc); err == nil {
		k.HostCompiler = v
	}
	// The progress lines say "lab:", as they did when the lab prepared
	// these trees.
	unlock, err := k.Lock(func() { fmt.Fprintf(o.Log, "lab: waiting for another ksplice preparing %s\n", src) })
	if err != nil {
		return nil, err
	}
	defer unlock()
	if Complete(k.Build) {
		return k, nil
	}
	what := fmt.Sprintf("configure and prepare %s (make olddefconfig prepare, %s)", src, cc)
	start := time.Now()
	fmt.Fprintf(o.Log, "lab: %s\n", what)
	err = Stage(k.Build, func(dir string) error {
		return Tree{Source: src, Build: dir, MakeVars: k.MakeVars, Jobs: o.Jobs}.Prepare(ctx, cfg)
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "lab: %s: done in %.1fs\n", what, time.Since(start).Seconds())
	return k, nil
}

// Prepare configures t's O= tree, an existing directory, with the kernel
// configuration cfg (make olddefconfig prepare), so that objects can be
// built in it. A failed make is a *run.Error.
func (t Tree) Prepare(ctx context.Context, cfg []byte) error {
	if err := os.WriteFile(filepath.Join(t.Build, ".config"), cfg, 0o644); err != nil {
		return err
	}
	jobs := t.Jobs
	if jobs <= 0 {
		jobs = 2
	}
	mk := append([]string{"-C", t.Source, "O=" + t.Build}, t.MakeVars...)
	mk = append(mk, "-s", fmt.Sprintf("-j%d", jobs), "olddefconfig", "prepare")
	if _, err := t.Make(mk...).Output(ctx); err != nil {
		return fmt.Errorf("prepare source tree: %w", err)
	}
	return nil
}

// configArch maps the Kconfig symbol of each architecture ksplice handles
// to its Debian name.
var configArch = []struct{ line, arch string }{
	{"CONFIG_X86_64=y", "amd64"},
	{"CONFIG_ARM64=y", "arm64"},
}

// archOfConfig returns the architecture a kernel configuration is for. The
// error wraps verdict.ErrUnsupported.
func archOfConfig(cfg []byte) (*arch.Arch, error) {
	sc := bufio.NewScanner(strings.NewReader(string(cfg)))
	for sc.Scan() {
		for _, c := range configArch {
			if sc.Text() == c.line {
				return arch.ByName(c.arch)
			}
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
