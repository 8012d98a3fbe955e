package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/ksplice-go/ksplice/internal/run"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// ErrNotServed means the Debian mirror does not serve a package the lab
// needs, typically an old kernel ABI that has been removed from it.
var ErrNotServed = errors.New("not served by the Debian mirror")

// NotServedError names the package the mirror lacks and, for kernel images,
// the releases of the same flavour it does serve. It unwraps to ErrNotServed
// and verdict.ErrUnsupported.
type NotServedError struct {
	Package string
	Served  []string
}

func (e *NotServedError) Error() string {
	msg := e.Package + " is " + ErrNotServed.Error()
	if len(e.Served) > 0 {
		msg += " (it serves " + strings.Join(e.Served, ", ") + ")"
	}
	return msg
}

func (e *NotServedError) Unwrap() []error { return []error{ErrNotServed, verdict.ErrUnsupported} }

// apt talks to the host's package manager. It only downloads and reads
// package metadata; it never installs kernel packages on the host.
type apt struct {
	log        io.Writer
	updateOnce sync.Once
	updateErr  error
}

// qualify names pkg for arch the way apt wants it: foreign architectures
// take a ":arch" suffix.
func qualify(pkg, arch string) string {
	if arch == "" || arch == hostDebianArch() {
		return pkg
	}
	return pkg + ":" + arch
}

// update runs apt-get update, once per process, so that a fresh machine
// whose package lists are empty or stale can find kernel packages.
func (a *apt) update(ctx context.Context) error {
	a.updateOnce.Do(func() {
		fmt.Fprintln(a.log, "lab: refreshing the package lists (apt-get update)")
		_, a.updateErr = run.Command(ctx, "", "apt-get", "update", "-q")
		if a.updateErr != nil {
			a.updateErr = fmt.Errorf("apt-get update: %w", a.updateErr)
		}
	})
	return a.updateErr
}

// version returns the version of pkg that apt would download: the candidate,
// or the single version the mirror has for ABI-specific packages.
func (a *apt) version(ctx context.Context, pkg string) (string, error) {
	v, err := a.showVersion(ctx, pkg)
	if errors.Is(err, ErrNotServed) {
		if uerr := a.update(ctx); uerr != nil {
			return "", uerr
		}
		v, err = a.showVersion(ctx, pkg)
	}
	return v, err
}

func (a *apt) showVersion(ctx context.Context, pkg string) (string, error) {
	out, err := run.Command(ctx, "", "apt-cache", "show", "--no-all-versions", pkg)
	if err != nil {
		var re *run.Error
		if errors.As(err, &re) && strings.Contains(re.Output, "No packages found") ||
			strings.Contains(fmt.Sprint(err), "Unable to locate") {
			return "", &NotServedError{Package: pkg}
		}
		return "", fmt.Errorf("apt-cache show %s: %w", pkg, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "Version: "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", &NotServedError{Package: pkg}
}

// hasVersion reports whether the mirror serves pkg at version.
func (a *apt) hasVersion(ctx context.Context, pkg, version string) (bool, error) {
	out, err := run.Command(ctx, "", "apt-cache", "madison", pkg)
	if err != nil {
		return false, fmt.Errorf("apt-cache madison %s: %w", pkg, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "|")
		if len(f) >= 2 && strings.TrimSpace(f[1]) == version {
			return true, nil
		}
	}
	return false, nil
}

// kernelReleases lists the kernel releases of one flavour that the mirror
// serves images for, oldest first, to suggest alternatives.
func (a *apt) kernelReleases(ctx context.Context, abiPrefix, flavour string) []string {
	out, err := run.Command(ctx, "", "apt-cache", "pkgnames", "linux-image-"+abiPrefix)
	if err != nil {
		return nil
	}
	re := regexp.MustCompile(`^linux-image-(` + regexp.QuoteMeta(abiPrefix) + `(\d+))-` + regexp.QuoteMeta(flavour) + `$`)
	type rel struct {
		name string
		n    int
	}
	var rels []rel
	for _, p := range strings.Fields(string(out)) {
		if m := re.FindStringSubmatch(p); m != nil {
			n, _ := strconv.Atoi(m[2])
			rels = append(rels, rel{m[1] + "-" + flavour, n})
		}
	}
	sort.Slice(rels, func(i, j int) bool { return rels[i].n < rels[j].n })
	names := make([]string, len(rels))
	for i, r := range rels {
		names[i] = r.name
	}
	return names
}

// download fetches the given "pkg=version" (or plain "pkg") packages into
// dir.
func (a *apt) download(ctx context.Context, dir string, pkgs []string) error {
	args := append([]string{"download", "-q"}, pkgs...)
	if _, err := run.Command(ctx, dir, "apt-get", args...); err != nil {
		msg := err.Error()
		if strings.Contains(msg, "Could not resolve") || strings.Contains(msg, "Temporary failure") ||
			strings.Contains(msg, "Failed to fetch") || strings.Contains(msg, "Could not connect") {
			return fmt.Errorf("download from the Debian mirror failed (is the network up?): %w", err)
		}
		return fmt.Errorf("download %s: %w", strings.Join(pkgs, " "), err)
	}
	return nil
}

// extractDeb unpacks the files of a .deb into dir.
func extractDeb(ctx context.Context, deb, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := run.Command(ctx, "", "dpkg-deb", "-x", deb, dir); err != nil {
		return fmt.Errorf("extract %s: %w", filepath.Base(deb), err)
	}
	return nil
}
