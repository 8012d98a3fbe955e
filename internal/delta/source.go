package delta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/run"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// ErrNotServed means the mirror has no source package at the version.
var ErrNotServed = fmt.Errorf("%w: source release not served by the package mirror", verdict.ErrUnsupported)

// Source is one release of a kernel source package, extracted in the cache.
type Source struct {
	Package string // "linux-source-6.1"
	Version string // "6.1.190-1"
	Tree    string // the extracted source tree; only read
	// Changelog is the package's changelog.Debian.gz.
	Changelog string
}

var debVersion = regexp.MustCompile(`^(\d+)\.(\d+)(\.\d+)?-[0-9A-Za-z.+~]+$`)

// SourcePackage names the source package of a Debian kernel version:
// "6.1.190-1" is linux-source-6.1's.
func SourcePackage(version string) (string, error) {
	m := debVersion.FindStringSubmatch(version)
	if m == nil {
		return "", fmt.Errorf("%q is not a Debian kernel version such as 6.1.190-1", version)
	}
	return "linux-source-" + m[1] + "." + m[2], nil
}

// FetchOptions control FetchSource.
type FetchOptions struct {
	CacheDir string // see kbuild.CacheDir
	Log      io.Writer
}

// FetchSource returns the source tree of version, downloading and
// extracting it into CACHE/sources/PACKAGE_VERSION once. A tree that a
// prepared kernel of the cache already holds at that version (the lab's
// kernels/debian/RELEASE/source) is used as it is, rather than extracted
// again: 1.4 GB and a minute saved. Errors wrap ErrNotServed when the
// mirror does not have the version.
func FetchSource(ctx context.Context, version string, o FetchOptions) (*Source, error) {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	pkg, err := SourcePackage(version)
	if err != nil {
		return nil, err
	}
	cache := kbuild.CacheDir(o.CacheDir)
	dir := filepath.Join(cache, "sources", pkg+"_"+version)
	s := &Source{Package: pkg, Version: version, Tree: filepath.Join(dir, "tree"), Changelog: filepath.Join(dir, "changelog", "changelog.Debian.gz")}
	if kbuild.Complete(filepath.Join(dir, "changelog")) {
		if t := kernelTree(cache, pkg, version); t != "" {
			s.Tree = t
			return s, nil
		}
		if kbuild.Complete(s.Tree) {
			return s, nil
		}
	}
	unlock, err := kbuild.Lock(dir, func() { fmt.Fprintf(log, "upgrade: waiting for another ksplice fetching %s %s\n", pkg, version) })
	if err != nil {
		return nil, err
	}
	defer unlock()
	stage := func(name, what string, fn func(dir string) error) error {
		d := filepath.Join(dir, name)
		if kbuild.Complete(d) {
			return nil
		}
		start := time.Now()
		fmt.Fprintf(log, "upgrade: %s\n", what)
		if err := kbuild.Stage(d, fn); err != nil {
			return err
		}
		fmt.Fprintf(log, "upgrade: %s: done in %.1fs\n", what, time.Since(start).Seconds())
		return nil
	}
	deb := filepath.Join(dir, "deb")
	err = stage("deb", fmt.Sprintf("download %s %s", pkg, version), func(d string) error {
		return download(ctx, d, pkg, version)
	})
	if err != nil {
		return nil, err
	}
	debFile, err := findDeb(deb, pkg)
	if err != nil {
		return nil, err
	}
	err = stage("changelog", "read its changelog", func(d string) error {
		_, err := run.Command(ctx, d, "sh", "-ec", fmt.Sprintf(
			"dpkg-deb --fsys-tarfile '%s' | tar -xO './usr/share/doc/%s/changelog.Debian.gz' > changelog.Debian.gz", debFile, pkg))
		return err
	})
	if err != nil {
		return nil, err
	}
	if t := kernelTree(cache, pkg, version); t != "" {
		s.Tree = t
		return s, nil
	}
	err = stage("tree", fmt.Sprintf("extract %s %s", pkg, version), func(d string) error {
		_, err := run.Command(ctx, d, "sh", "-ec", fmt.Sprintf(
			"dpkg-deb --fsys-tarfile '%s' | tar -xO './usr/src/%s.tar.xz' | tar -xJ --strip-components=1", debFile, pkg))
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// kernelTree returns the source tree of a prepared kernel of the cache
// whose source package is pkg at version, or "".
func kernelTree(cache, pkg, version string) string {
	jsons, _ := filepath.Glob(filepath.Join(cache, "kernels", "*", "*", "kernel.json"))
	for _, j := range jsons {
		b, err := os.ReadFile(j)
		if err != nil {
			continue
		}
		var k kbuild.Kernel
		if json.Unmarshal(b, &k) != nil || k.BootOnly || k.Source == "" {
			continue
		}
		if k.Packages[pkg] != version && !(k.Version == version && k.Packages[pkg] == "") {
			continue
		}
		if kbuild.Complete(k.Source) {
			return k.Source
		}
	}
	return ""
}

// download fetches pkg=version into dir with apt-get.
func download(ctx context.Context, dir, pkg, version string) error {
	out, err := run.Command(ctx, "", "apt-cache", "madison", pkg)
	if err != nil {
		return fmt.Errorf("apt-cache madison %s: %w", pkg, err)
	}
	var served []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "|")
		if len(f) >= 2 {
			served = append(served, strings.TrimSpace(f[1]))
		}
	}
	found := false
	for _, v := range served {
		found = found || v == version
	}
	if !found {
		return fmt.Errorf("%s %s: %w (served: %s; apt-get update may be needed)", pkg, version, ErrNotServed, strings.Join(uniq(served), ", "))
	}
	if _, err := run.Command(ctx, dir, "apt-get", "download", "-q", pkg+"="+version); err != nil {
		return fmt.Errorf("download %s=%s: %w", pkg, version, err)
	}
	return nil
}

func findDeb(dir, pkg string) (string, error) {
	m, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(m) != 1 {
		return "", fmt.Errorf("%s: want one %s .deb, found %d", dir, pkg, len(m))
	}
	return m[0], nil
}

func uniq(ss []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// errSkip is returned by a walk function to skip a directory.
var errSkip = errors.New("skip")
