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
	for _, s := range fetchStages {
		if s.what != nil && s.applies(k.Toolchain != "") && !kbuild.Complete(filepath.Join(dir, s.name)) {
			return nil, fmt.Errorf("%s: stage %s incomplete", dir, s.name)
		}
	}
	return &k, nil
}

// fetcher prepares one kernel: the stages of fetchStages run in order and
// fill in its fields for the stages after them.
type fetcher struct {
	spec  Spec
	guest *guest
	dir   string
	log   io.Writer
	jobs  int
	apt   *apt

	// Set by the resolve step.
	version string   // of the image, headers and source packages
	series  string   // "6.1"
	pkgs    []string // apt-get download arguments
	debs    map[string]string
	// Set by the compiler step.
	config string // the image's .config
	cc     string // CC
	ccText string // CONFIG_CC_VERSION_TEXT of the image
	hostCC string // what CC --version says
	// native is the kernel architecture's native toolchain to fetch and
	// build with (toolchain.go); nil to build with a compiler of the host.
	native *nativeToolchain
}

// A fetchStage is one step of preparing a kernel. A stage that makes a
// directory of the kernel's (what is set) makes it with kbuild.Stage: once,
// marked complete when done, made again if it was interrupted. A step
// without a directory (asking apt for versions, choosing the compiler) is
// done again by every fetch that finds no kernel.json.
type fetchStage struct {
	name string                // the directory under the kernel's, or the step's name
	what func(*fetcher) string // the progress line; nil for a step
	only compilerKind          // the stage belongs to kernels built with this compiler
	run  func(f *fetcher, ctx context.Context, dir string) error
}

// compilerKind says which compiler builds a kernel's objects: some stages
// are only for one.
type compilerKind int

const (
	anyCompiler    compilerKind = iota
	hostCompiler                // the host's own compiler, or its cross compiler
	nativeCompiler              // the kernel architecture's Debian gcc, under qemu-user
)

func (s fetchStage) applies(native bool) bool {
	return s.only == anyCompiler || (s.only == nativeCompiler) == native
}

// fetchStages prepare a kernel, in this order.
var fetchStages = []fetchStage{
	{name: "resolve", run: (*fetcher).resolve},
	{name: "debs", what: func(f *fetcher) string {
		return fmt.Sprintf("download linux-image-%s %s and its headers, kbuild, source, busybox", f.spec.Release, f.version)
	}, run: (*fetcher).download},
	{name: "image", what: says("extract the kernel image"), run: (*fetcher).extractImage},
	{name: "headers", what: says("extract headers and kbuild into one root"), run: (*fetcher).extractHeaders},
	{name: "busybox", what: says("extract busybox"), run: (*fetcher).extractBusybox},
	{name: "source", what: func(f *fetcher) string {
		return fmt.Sprintf("extract %s %s", f.sourcePackage(), f.version)
	}, run: (*fetcher).extractSource},
	{name: "compiler", run: (*fetcher).chooseCompiler},
	{name: "toolchain-debs", only: nativeCompiler, what: func(f *fetcher) string {
		return fmt.Sprintf("download %s's native %s %s and its binutils", f.spec.Arch.Debian, f.native.gcc, f.native.version)
	}, run: (*fetcher).downloadToolchain},
	{name: "toolchain", only: nativeCompiler, what: func(f *fetcher) string {
		return fmt.Sprintf("extract the native toolchain (runs under %s)", f.guest.QEMUUser)
	}, run: (*fetcher).extractToolchain},
	{name: "native-compiler", only: nativeCompiler, run: (*fetcher).useNativeCompiler},
	// The O= tree is built with one compiler; one built with another is a
	// directory of its own, so that a cache prepared before is never used
	// with the wrong compiler.
	{name: "build", only: hostCompiler, what: preparing, run: (*fetcher).prepare},
	{name: "build-native", only: nativeCompiler, what: preparing, run: (*fetcher).prepare},
}

func says(what string) func(*fetcher) string { return func(*fetcher) string { return what } }

func preparing(f *fetcher) string {
	return fmt.Sprintf("configure and prepare the source tree (make olddefconfig prepare, %s)", f.cc)
}

func (f *fetcher) path(elem ...string) string {
	return filepath.Join(append([]string{f.dir}, elem...)...)
}

// fetch runs the stages and writes kernel.json, last.
func (f *fetcher) fetch(ctx context.Context) (*kbuild.Kernel, error) {
	for _, s := range fetchStages {
		if s.applies(f.native != nil) {
			if err := f.runStage(ctx, s); err != nil {
				return nil, err
			}
		}
	}
	return f.writeKernel()
}

// runStage runs one stage, saying what it does when there is work to do.
func (f *fetcher) runStage(ctx context.Context, s fetchStage) error {
	if s.what == nil {
		return s.run(f, ctx, "")
	}
	dir := f.path(s.name)
	if kbuild.Complete(dir) {
		return nil
	}
	what := s.what(f)
	start := time.Now()
	fmt.Fprintf(f.log, "lab: %s\n", what)
	if err := kbuild.Stage(dir, func(dir string) error { return s.run(f, ctx, dir) }); err != nil {
		return err
	}
	fmt.Fprintf(f.log, "lab: %s: done in %.1fs\n", what, time.Since(start).Seconds())
	return nil
}

func (f *fetcher) imagePackage() string  { return "linux-image-" + f.spec.Release }
func (f *fetcher) sourcePackage() string { return "linux-source-" + f.series }

// resolve asks apt for the version of the image, makes sure the mirror
// serves its source at that version too, and lists the packages to
// download.
func (f *fetcher) resolve(ctx context.Context, _ string) error {
	spec, arch := f.spec, f.spec.Arch.Debian
	image := f.imagePackage()
	version, err := f.apt.version(ctx, qualify(image, arch))
	var nse *NotServedError
	if errors.As(err, &nse) {
		nse.Served = f.apt.kernelReleases(ctx, spec.ABI[:strings.LastIndex(spec.ABI, "-")+1], spec.Flavour)
		return fmt.Errorf("kernel %s: %w", spec, nse)
	}
	if err != nil {
		return fmt.Errorf("kernel %s: %w", spec, err)
	}
	f.version = version
	f.series = spec.ABI[:strings.LastIndex(spec.ABI[:strings.LastIndex(spec.ABI, "-")], ".")] // "6.1"
	source := f.sourcePackage()
	if ok, err := f.apt.hasVersion(ctx, source, version); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("kernel %s: the image is served but not its source: %w", spec, &NotServedError{Package: source + "=" + version})
	}
	// linux-kbuild is served only at the newest version of the series; its
	// host tools work with older headers of the same series.
	f.pkgs = []string{
		qualify(image, arch) + "=" + version,
		qualify("linux-headers-"+spec.Release, arch) + "=" + version,
		"linux-headers-" + spec.ABI + "-common=" + version,
		"linux-kbuild-" + f.series,
		qualify("busybox-static", arch),
		source + "=" + version,
	}
	return nil
}

func (f *fetcher) download(ctx context.Context, dir string) error {
	if err := f.apt.download(ctx, dir, f.pkgs); err != nil {
		return err
	}
	_, err := findDebs(dir, f.pkgs)
	return err
}

// debFiles maps the name of each package of the debs stage to its .deb.
func (f *fetcher) debFiles() (map[string]string, error) {
	if f.debs == nil {
		debs, err := findDebs(f.path("debs"), f.pkgs)
		if err != nil {
			return nil, err
		}
		f.debs = debs
	}
	return f.debs, nil
}

// extract unpacks the .debs of the named packages into dir.
func (f *fetcher) extract(ctx context.Context, dir string, names ...string) error {
	debs, err := f.debFiles()
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := extractDeb(ctx, debs[name], dir); err != nil {
			return err
		}
	}
	return nil
}

func (f *fetcher) extractImage(ctx context.Context, dir string) error {
	return f.extract(ctx, dir, f.imagePackage())
}

func (f *fetcher) headersDir() string {
	return f.path("headers", "usr", "src", "linux-headers-"+f.spec.Release)
}

func (f *fetcher) extractHeaders(ctx context.Context, dir string) error {
	spec := f.spec
	if err := f.extract(ctx, dir, "linux-headers-"+spec.Release, "linux-headers-"+spec.ABI+"-common", "linux-kbuild-"+f.series); err != nil {
		return err
	}
	return relocateHeaders(filepath.Join(dir, "usr", "src", "linux-headers-"+spec.Release), filepath.Join(dir, "usr", "src"))
}

func (f *fetcher) extractBusybox(ctx context.Context, dir string) error {
	return f.extract(ctx, dir, "busybox-static")
}

func (f *fetcher) extractSource(ctx context.Context, dir string) error {
	source := f.sourcePackage()
	debs, err := f.debFiles()
	if err != nil {
		return err
	}
	tarball := "./usr/src/" + source + ".tar.xz"
	// A pipeline, with arguments the lab itself chose.
	_, err = run.Command(ctx, dir, "sh", "-ec", fmt.Sprintf(
		"dpkg-deb --fsys-tarfile '%s' | tar -xO '%s' | tar -xJ --strip-components=1",
		debs[source], tarball))
	return err
}

// chooseCompiler reads the compiler the image was built with from its
// config and finds it on the host. A kernel of another architecture whose
// compiler the host's cross compiler is not gets its native toolchain
// (toolchain.go); if the mirror no longer serves that, the host's cross
// compiler builds it, with a warning.
func (f *fetcher) chooseCompiler(ctx context.Context, _ string) error {
	spec := f.spec
	f.config = f.path("image", "boot", "config-"+spec.Release)
	cc, ccText, err := kbuild.ConfigCompiler(f.config, spec.Arch)
	if err != nil {
		return err
	}
	hostCC, err := kbuild.CompilerVersion(ctx, cc)
	if err != nil {
		return fmt.Errorf("kernel %s was built with %q: %w", spec, ccText, err)
	}
	f.cc, f.ccText, f.hostCC = cc, ccText, hostCC
	if spec.Arch.Debian == hostDebianArch() || compilerVersion(hostCC) == compilerVersion(ccText) {
		return nil
	}
	native, err := f.nativeToolchain(ctx)
	var nse *NotServedError
	switch {
	case errors.As(err, &nse):
		fmt.Fprintf(f.log, "lab: %s; building with %s, which is not the kernel's compiler\n", err, hostCC)
	case err != nil:
		return fmt.Errorf("kernel %s: %w", spec, err)
	default:
		f.native = native
	}
	return nil
}

// prepare configures and prepares the O= tree dir (stage build or
// build-native) with the image's config and the chosen compiler.
func (f *fetcher) prepare(ctx context.Context, dir string) error {
	// Trees copied from an earlier build tree (create's workspaces)
	// are stale once it is made again.
	for _, ws := range []string{"post", "base"} {
		if err := os.RemoveAll(f.path(ws, "build")); err != nil {
			return err
		}
	}
	if dir != f.path("build") {
		if err := os.RemoveAll(f.path("build")); err != nil {
			return err
		}
	}
	cfg, err := os.ReadFile(f.config)
	if err != nil {
		return err
	}
	t := f.tree(dir)
	t.Jobs = f.jobs
	if err := t.Prepare(ctx, cfg); err != nil {
		return err
	}
	if f.native != nil {
		// The point of the native toolchain: Kconfig kept the image's
		// configuration, compiler text included.
		got, err := kbuild.ConfigCompilerText(filepath.Join(dir, ".config"))
		if err != nil {
			return err
		}
		if got != f.ccText {
			return fmt.Errorf("prepare source tree: olddefconfig with %s made CONFIG_CC_VERSION_TEXT %q, want %q", f.cc, got, f.ccText)
		}
	}
	return nil
}

// tree is the source with the O= tree build, built with the chosen
// compiler.
func (f *fetcher) tree(build string) kbuild.Tree {
	return kbuild.Tree{
		Source:   f.path("source"),
		Build:    build,
		MakeVars: kbuild.MakeVars(f.cc, f.spec.Release, f.spec.Arch),
	}
}

// writeKernel checks the prepared kernel and writes its kernel.json.
func (f *fetcher) writeKernel() (*kbuild.Kernel, error) {
	spec := f.spec
	build, toolchain := f.path("build"), ""
	if f.native != nil {
		build, toolchain = f.path("build-native"), f.path("toolchain")
	}
	k := &kbuild.Kernel{
		Format:       kbuild.KernelFormat,
		Spec:         spec.String(),
		Release:      spec.Release,
		Arch:         spec.Arch.Debian,
		Version:      f.version,
		Dir:          f.dir,
		Image:        f.path("image", "boot", "vmlinuz-"+spec.Release),
		Config:       f.config,
		Modules:      f.path("image", "lib", "modules", spec.Release),
		Headers:      f.headersDir(),
		Tree:         f.tree(build),
		Busybox:      f.path("busybox", "bin", "busybox"),
		Compiler:     f.ccText,
		HostCompiler: f.hostCC,
		Toolchain:    toolchain,
		Packages:     map[string]string{},
	}
	debs, err := f.debFiles()
	if err != nil {
		return nil, err
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
