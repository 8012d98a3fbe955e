package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/run"
)

// Kernel is a fetched and prepared kernel in the cache. Its JSON form is
// what `ksplice lab fetch --json` prints and is stable.
type Kernel struct {
	Format  int    `json:"format"`  // kernelFormat; an older kernel.json is rewritten
	Spec    string `json:"spec"`    // "debian:6.1.0-55-amd64"
	Release string `json:"release"` // uname -r of the guest
	Arch    string `json:"arch"`    // Debian architecture
	Version string `json:"version"` // package version of image, headers and source

	Dir     string `json:"dir"`     // the kernel's directory in the cache
	Image   string `json:"image"`   // bootable kernel image (bzImage / Image)
	Config  string `json:"config"`  // the image's .config
	Modules string `json:"modules"` // /lib/modules/RELEASE of the image
	Headers string `json:"headers"` // headers tree: make -C Headers M=DIR modules
	Source  string `json:"source"`  // pristine linux-source tree; never written after fetch
	Build   string `json:"build"`   // Kbuild output tree (O=) configured like the image
	Busybox string `json:"busybox"` // statically linked busybox for the guest

	// MakeVars are the make variables that build code exactly as the image
	// was built: CC, KERNELRELEASE, and ARCH and CROSS_COMPILE for a
	// foreign architecture.
	MakeVars []string `json:"make_vars"`
	// Compiler is CONFIG_CC_VERSION_TEXT, the compiler the image was built
	// with; HostCompiler is what `CC --version` says on this machine.
	Compiler     string `json:"compiler"`
	HostCompiler string `json:"host_compiler"`
	// Toolchain is the root of the kernel architecture's native toolchain,
	// run under user-mode QEMU, when CC is that (toolchain.go); "" when CC
	// is a compiler of the host.
	Toolchain string `json:"toolchain,omitempty"`

	Packages map[string]string `json:"packages"` // package name -> version used
}

// FetchOptions control Fetch.
type FetchOptions struct {
	CacheDir string    // see CacheDir
	Log      io.Writer // progress lines; nil for silence
	Jobs     int       // make -j; 0 means 2
}

const (
	kernelJSON   = "kernel.json"
	kernelFormat = 3
)

// Fetch downloads and prepares the kernel named by spec in the cache, or
// returns the prepared one. It is idempotent and safe to run concurrently:
// one process prepares, others wait for its lock. Errors wrap ErrNotServed
// when the mirror no longer has the kernel, and verdict.ErrUnsupported when a
// host tool is missing.
func Fetch(ctx context.Context, spec Spec, opts FetchOptions) (*Kernel, error) {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	if opts.Jobs <= 0 {
		opts.Jobs = 2
	}
	dir := filepath.Join(CacheDir(opts.CacheDir), "kernels", spec.Distro, spec.Release)

	// The fast path needs no lock: kernel.json is written last, by rename.
	if k, err := loadKernel(dir); err == nil {
		return k, nil
	}
	for _, t := range []struct{ name, pkg string }{
		{"apt-get", "apt"}, {"dpkg-deb", "dpkg"}, {"tar", "tar"}, {"xz", "xz-utils"},
		{"make", "make"}, {"flex", "flex"}, {"bison", "bison"}, {"bc", "bc"},
	} {
		if _, err := run.LookTool(t.name, t.pkg); err != nil {
			return nil, err
		}
	}
	unlock, err := lockFile(dir+".lock", func() {
		fmt.Fprintf(log, "lab: waiting for another ksplice preparing %s\n", spec)
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	defer unlock()
	if k, err := loadKernel(dir); err == nil {
		return k, nil
	}
	g, err := guestFor(spec.Arch)
	if err != nil {
		return nil, err
	}
	f := &fetcher{spec: spec, guest: g, dir: dir, log: log, jobs: opts.Jobs, apt: &apt{log: log}}
	return f.fetch(ctx)
}

func loadKernel(dir string) (*Kernel, error) {
	b, err := os.ReadFile(filepath.Join(dir, kernelJSON))
	if err != nil {
		return nil, err
	}
	var k Kernel
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, kernelJSON), err)
	}
	if k.Format != kernelFormat {
		return nil, fmt.Errorf("%s: format %d, want %d", filepath.Join(dir, kernelJSON), k.Format, kernelFormat)
	}
	stages := []string{"debs", "image", "headers", "busybox", "source", filepath.Base(k.Build)}
	if k.Toolchain != "" {
		stages = append(stages, "toolchain-debs", "toolchain")
	}
	for _, d := range stages {
		if !complete(filepath.Join(dir, d)) {
			return nil, fmt.Errorf("%s: stage %s incomplete", dir, d)
		}
	}
	return &k, nil
}

type fetcher struct {
	spec  Spec
	guest *guest
	dir   string
	log   io.Writer
	jobs  int
	apt   *apt
}

func (f *fetcher) path(elem ...string) string {
	return filepath.Join(append([]string{f.dir}, elem...)...)
}

// stage makes one stage directory of the kernel, saying what it does when
// there is work to do.
func (f *fetcher) stage(what, dir string, build func(dir string) error) error {
	if complete(dir) {
		return nil
	}
	start := time.Now()
	fmt.Fprintf(f.log, "lab: %s\n", what)
	if err := stage(dir, build); err != nil {
		return err
	}
	fmt.Fprintf(f.log, "lab: %s: done in %.1fs\n", what, time.Since(start).Seconds())
	return nil
}

func (f *fetcher) fetch(ctx context.Context) (*Kernel, error) {
	spec, arch := f.spec, f.spec.Arch.Debian
	image := "linux-image-" + spec.Release
	version, err := f.apt.version(ctx, qualify(image, arch))
	var nse *NotServedError
	if errors.As(err, &nse) {
		nse.Served = f.apt.kernelReleases(ctx, spec.ABI[:strings.LastIndex(spec.ABI, "-")+1], spec.Flavour)
		return nil, fmt.Errorf("kernel %s: %w", spec, nse)
	}
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", spec, err)
	}
	series := spec.ABI[:strings.LastIndex(spec.ABI[:strings.LastIndex(spec.ABI, "-")], ".")] // "6.1"
	source := "linux-source-" + series
	if ok, err := f.apt.hasVersion(ctx, source, version); err != nil {
		return nil, err
	} else if !ok {
		return nil, fmt.Errorf("kernel %s: the image is served but not its source: %w", spec, &NotServedError{Package: source + "=" + version})
	}

	// linux-kbuild is served only at the newest version of the series; its
	// host tools work with older headers of the same series.
	pkgs := []string{
		qualify(image, arch) + "=" + version,
		qualify("linux-headers-"+spec.Release, arch) + "=" + version,
		"linux-headers-" + spec.ABI + "-common=" + version,
		"linux-kbuild-" + series,
		qualify("busybox-static", arch),
		source + "=" + version,
	}
	var debs map[string]string
	err = f.stage(fmt.Sprintf("download %s %s and its headers, kbuild, source, busybox", image, version), f.path("debs"), func(dir string) error {
		if err := f.apt.download(ctx, dir, pkgs); err != nil {
			return err
		}
		_, err := findDebs(dir, pkgs)
		return err
	})
	if err != nil {
		return nil, err
	}
	debs, err = findDebs(f.path("debs"), pkgs)
	if err != nil {
		return nil, err
	}

	err = f.stage("extract the kernel image", f.path("image"), func(dir string) error {
		return extractDeb(ctx, debs[image], dir)
	})
	if err != nil {
		return nil, err
	}
	headers := f.path("headers", "usr", "src", "linux-headers-"+spec.Release)
	err = f.stage("extract headers and kbuild into one root", f.path("headers"), func(dir string) error {
		for _, p := range []string{"linux-headers-" + spec.Release, "linux-headers-" + spec.ABI + "-common", "linux-kbuild-" + series} {
			if err := extractDeb(ctx, debs[p], dir); err != nil {
				return err
			}
		}
		return relocateHeaders(filepath.Join(dir, "usr", "src", "linux-headers-"+spec.Release), filepath.Join(dir, "usr", "src"))
	})
	if err != nil {
		return nil, err
	}
	err = f.stage("extract busybox", f.path("busybox"), func(dir string) error {
		return extractDeb(ctx, debs["busybox-static"], dir)
	})
	if err != nil {
		return nil, err
	}
	err = f.stage(fmt.Sprintf("extract %s %s", source, version), f.path("source"), func(dir string) error {
		tarball := "./usr/src/" + source + ".tar.xz"
		// A pipeline, with arguments the lab itself chose.
		_, err := run.Command(ctx, dir, "sh", "-ec", fmt.Sprintf(
			"dpkg-deb --fsys-tarfile '%s' | tar -xO '%s' | tar -xJ --strip-components=1",
			debs[source], tarball))
		return err
	})
	if err != nil {
		return nil, err
	}

	config := f.path("image", "boot", "config-"+spec.Release)
	cc, ccText, err := compilerFromConfig(config, spec.Arch)
	if err != nil {
		return nil, err
	}
	hostCC, err := versionLine(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("kernel %s was built with %q: %w", spec, ccText, err)
	}
	// The O= tree is built with one compiler; one built with another is a
	// directory of its own, so that a cache prepared before is never used
	// with the wrong compiler.
	build := f.path("build")
	toolchain := ""
	if spec.Arch.Debian != hostDebianArch() && compilerVersion(hostCC) != compilerVersion(ccText) {
		driver, err := f.nativeToolchain(ctx, ccText)
		var nse *NotServedError
		switch {
		case errors.As(err, &nse):
			fmt.Fprintf(f.log, "lab: %s; building with %s, which is not the kernel's compiler\n", err, hostCC)
		case err != nil:
			return nil, fmt.Errorf("kernel %s: %w", spec, err)
		default:
			cc, toolchain, build = driver, f.path("toolchain"), f.path("build-native")
			if hostCC, err = versionLine(ctx, cc); err != nil {
				return nil, fmt.Errorf("kernel %s: the native toolchain under %s: %w", spec, f.guest.QEMUUser, err)
			}
			if compilerVersion(hostCC) != compilerVersion(ccText) {
				return nil, fmt.Errorf("kernel %s was built with %q, but the native toolchain says %q", spec, ccText, hostCC)
			}
		}
	}
	vars := makeVars(cc, spec.Release, spec.Arch)
	err = f.stage(fmt.Sprintf("configure and prepare the source tree (make olddefconfig prepare, %s)", cc), build, func(dir string) error {
		// Trees copied from an earlier build tree (create's workspaces)
		// are stale once it is made again.
		for _, ws := range []string{"post", "base"} {
			if err := os.RemoveAll(f.path(ws, "build")); err != nil {
				return err
			}
		}
		if build != f.path("build") {
			if err := os.RemoveAll(f.path("build")); err != nil {
				return err
			}
		}
		cfg, err := os.ReadFile(config)
		if err != nil {
			return err
		}
		if err := prepareBuild(ctx, f.path("source"), dir, cfg, vars, f.jobs); err != nil {
			return err
		}
		if toolchain != "" {
			// The point of the native toolchain: Kconfig kept the image's
			// configuration, compiler text included.
			got, err := configCompilerText(filepath.Join(dir, ".config"))
			if err != nil {
				return err
			}
			if got != ccText {
				return fmt.Errorf("prepare source tree: olddefconfig with %s made CONFIG_CC_VERSION_TEXT %q, want %q", cc, got, ccText)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	k := &Kernel{
		Format:       kernelFormat,
		Spec:         spec.String(),
		Release:      spec.Release,
		Arch:         spec.Arch.Debian,
		Version:      version,
		Dir:          f.dir,
		Image:        f.path("image", "boot", "vmlinuz-"+spec.Release),
		Config:       config,
		Modules:      f.path("image", "lib", "modules", spec.Release),
		Headers:      headers,
		Source:       f.path("source"),
		Build:        build,
		Busybox:      f.path("busybox", "bin", "busybox"),
		MakeVars:     vars,
		Compiler:     ccText,
		HostCompiler: hostCC,
		Toolchain:    toolchain,
		Packages:     map[string]string{},
	}
	for name, deb := range debs {
		// pkg_version_arch.deb, with the epoch's ':' escaped as %3a.
		parts := strings.Split(filepath.Base(deb), "_")
		if len(parts) == 3 {
			k.Packages[name] = strings.ReplaceAll(parts[1], "%3a", ":")
		}
	}
	for _, p := range []string{k.Image, k.Busybox, k.Headers, k.Modules} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("kernel %s: prepared cache lacks %s: %w", spec, p, err)
		}
	}
	b, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return nil, err
	}
	// Written last and atomically: its presence means a complete kernel.
	if err := renameio.WriteFile(f.path(kernelJSON), b, 0o644); err != nil {
		return nil, err
	}
	return k, nil
}

// findDebs maps each requested package to its downloaded .deb.
func findDebs(dir string, pkgs []string) (map[string]string, error) {
	debs := map[string]string{}
	for _, p := range pkgs {
		name, _, _ := strings.Cut(p, "=")
		name, _, _ = strings.Cut(name, ":")
		m, _ := filepath.Glob(filepath.Join(dir, name+"_*.deb"))
		if len(m) != 1 {
			return nil, fmt.Errorf("cache %s: expected one %s .deb, found %d", dir, name, len(m))
		}
		debs[name] = m[0]
	}
	return debs, nil
}

// relocateHeaders points the headers' Makefile, which includes the common
// headers by their absolute install path, at the extracted copy.
func relocateHeaders(headers, srcRoot string) error {
	mk := filepath.Join(headers, "Makefile")
	b, err := os.ReadFile(mk)
	if err != nil {
		return fmt.Errorf("headers: %w", err)
	}
	out := strings.ReplaceAll(string(b), "include /usr/src/", "include "+srcRoot+"/")
	if out == string(b) {
		return fmt.Errorf("headers: %s does not include the common headers by /usr/src path; layout changed?", mk)
	}
	return os.WriteFile(mk, []byte(out), 0o644)
}

// compilerFromConfig reads CONFIG_CC_VERSION_TEXT and returns the compiler
// command to build with: the same gcc major version, cross-prefixed when the
// kernel is for another architecture.
func compilerFromConfig(config string, a *arch.Arch) (cc, text string, err error) {
	text, err = configCompilerText(config)
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

// configCompilerText reads CONFIG_CC_VERSION_TEXT from a kernel config.
func configCompilerText(config string) (string, error) {
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

// versionLine is the first line of `cc --version`.
func versionLine(ctx context.Context, cc string) (string, error) {
	out, err := run.Command(ctx, "", cc, "--version")
	if err != nil {
		return "", err
	}
	return strings.SplitN(string(out), "\n", 2)[0], nil
}

// Lock takes the kernel's cache lock, which Fetch also takes, for work that
// writes into the kernel's directory (building objects in Build, for one).
// waiting is called if another process holds it.
func (k *Kernel) Lock(waiting func()) (unlock func(), err error) {
	return lockFile(k.Dir+".lock", waiting)
}

// SrcArch is the kernel's own name of the kernel's architecture (SRCARCH):
// "x86", "arm64".
func (k *Kernel) SrcArch() string {
	if a, err := archByDebian(k.Arch); err == nil {
		return a.SrcArch
	}
	return ""
}
