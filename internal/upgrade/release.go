package upgrade

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/ksplice-go/ksplice/internal/run"
)

var debianABI = regexp.MustCompile(`^(\d+\.\d+\.\d+-)(\d+)(-.+)$`)

// versioned is a release whose ABI is its upstream version, and upstream
// the upstream part of a Debian version.
var (
	versioned = regexp.MustCompile(`^(\d+\.\d+)\.\d+(\+deb\d+)(-.+)$`)
	upstream  = regexp.MustCompile(`^(\d+\.\d+)\.(\d+)-`)
)

// versionedABI returns the release of version to for a release named
// after its upstream version, or "" when release is not one or to is of
// another series.
func versionedABI(release, to string) string {
	m := versioned.FindStringSubmatch(release)
	u := upstream.FindStringSubmatch(to)
	if m == nil || u == nil || m[1] != u[1] {
		return ""
	}
	return u[1] + "." + u[2] + m[2] + m[3]
}

// DebianRelease returns the uname -r of Debian's kernel image of version
// to with the flavour of release ("6.1.0-53-amd64" and "6.1.190-1" give
// "6.1.0-54-amd64"), asking apt about the next few ABI numbers; "" if none
// is that version. The ABI number is bumped by most releases but not all.
//
// Debian's backported 6.12 kernels name their ABI after the upstream
// version instead ("6.12.111+deb12-amd64" and "6.12.113-1~deb12u1" give
// "6.12.113+deb12-amd64"): the name follows from the version, and the
// security archive keeps only the newest, so it is not asked for.
func DebianRelease(ctx context.Context, release, to string) string {
	if rel := versionedABI(release, to); rel != "" {
		return rel
	}
	m := debianABI.FindStringSubmatch(release)
	if m == nil {
		return ""
	}
	abi, _ := strconv.Atoi(m[2])
	for n := abi; n <= abi+4; n++ {
		rel := fmt.Sprintf("%s%d%s", m[1], n, m[3])
		for _, pkg := range []string{"linux-image-" + rel, "linux-image-" + rel + "-unsigned"} {
			out, err := run.Command(ctx, "", "apt-cache", "madison", pkg)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Split(line, "|")
				if len(f) >= 2 && strings.TrimSpace(f[1]) == to {
					return rel
				}
			}
		}
	}
	return ""
}
