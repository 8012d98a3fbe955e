package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/renameio/v2"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/run"
)

// FetchOptions control Fetch.
type FetchOptions struct {
	CacheDir string    // see CacheDir
	Log      io.Writer // progress lines; nil for silence
	Jobs     int       // make -j; 0 means 2
}

// kernelJSON is the file, in the kernel's directory, that holds the
// prepared kbuild.Kernel; it is written last.
const kernelJSON = "kernel.json"

// Fetch downloads and prepares the kernel named by spec in the cache, or
// returns the prepared one. It is idempotent and safe to run concurrently:
// one process prepares, others wait for its lock. Errors wrap ErrNotServed
// when the mirror no longer has the kernel, and verdict.ErrUnsupported when a
// host tool is missing.
func Fetch(ctx context.Context, spec Spec, opts FetchOptions) (*kbuild.Kernel, error) {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}
	if opts.Jobs <= 0 {
		opts.Jobs = 2
	}
	dir := filepath.Join(kbuild.CacheDir(opts.CacheDir), "kernels", spec.Distro, spec.Release)

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
	unlock, err := kbuild.Lock(dir, func() {
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

func loadKernel(dir string) (*kbuild.Kernel, error) {
	b, err := os.ReadFile(filepath.Join(dir, kernelJSON))
	if err != nil {
		return nil, err
	}
	var k kbuild.Kernel
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, kernelJSON), err)
	}
	if k.Format != kbuild.KernelFormat {
		return nil, fmt.Errorf("%s: format %d, want %d", filepath.Join(dir, kernelJSON), k.Format, kbuild.KernelFormat)
	}
	stages := []string{"debs", "image", "headers", "busybox", "source", filepath.Base(k.Build)}
	if k.Toolchain != "" {
		stages = append(stages, "toolchain-debs", "toolchain")
	}
	for _, d := range stages {
		if !kbuild.Complete(filepath.Join(dir, d)) {
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
	if kbuild.Complete(dir) {
		return nil
	}
	start := time.Now()
	fmt.Fprintf(f.log, "lab: %s\n", what)
	if err := kbuild.Stage(dir, build); err != nil {
		return err
	}
	fmt.Fprintf(f.log, "lab: %s: done in %.1fs\n", what, time.Since(start).Seconds())
	return nil
}

func (f *fetcher) fetch(ctx context.Context) (*kbuild.Kernel, error) {
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
	cc, ccText, err := kbuild.ConfigCompiler(config, spec.Arch)
	if err != nil {
		return nil, err
	}
	hostCC, err := kbuild.CompilerVersion(ctx, cc)
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
			if hostCC, err = kbuild.CompilerVersion(ctx, cc); err != nil {
				return nil, fmt.Errorf("kernel %s: the native toolchain under %s: %w", spec, f.guest.QEMUUser, err)
			}
			if compilerVersion(hostCC) != compilerVersion(ccText) {
				return nil, fmt.Errorf("kernel %s was built with %q, but the native toolchain says %q", spec, ccText, hostCC)
			}
		}
	}
	vars := kbuild.MakeVars(cc, spec.Release, spec.Arch)
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
		if err := (kbuild.Tree{Source: f.path("source"), Build: dir, MakeVars: vars, Jobs: f.jobs}).Prepare(ctx, cfg); err != nil {
			return err
		}
		if toolchain != "" {
			// The point of the native toolchain: Kconfig kept the image's
			// configuration, compiler text included.
			got, err := kbuild.ConfigCompilerText(filepath.Join(dir, ".config"))
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

	k := &kbuild.Kernel{
		Format:       kbuild.KernelFormat,
		Spec:         spec.String(),
		Release:      spec.Release,
		Arch:         spec.Arch.Debian,
		Version:      version,
		Dir:          f.dir,
		Image:        f.path("image", "boot", "vmlinuz-"+spec.Release),
		Config:       config,
		Modules:      f.path("image", "lib", "modules", spec.Release),
		Headers:      headers,
		Tree:         kbuild.Tree{Source: f.path("source"), Build: build, MakeVars: vars},
		Busybox:      f.path("busybox", "bin", "busybox"),
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
