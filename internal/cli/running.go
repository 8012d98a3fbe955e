package cli

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/ksplice-go/ksplice/internal/verdict"
)

// debianBuild matches the build line Debian's kernels carry in
// /proc/version: "... (debian-kernel@lists.debian.org) ... Debian 6.1.192-1".
var debianBuild = regexp.MustCompile(`\(debian-kernel@lists\.debian\.org\).*\bDebian (\d+\.\d+\.\d+-\S+)`)

// runningSpec returns the kernel spec of the running kernel, from its
// release (/proc/sys/kernel/osrelease) and /proc/version, when it is a
// Debian kernel; otherwise an error that says what to pass instead. The
// error wraps verdict.ErrUnsupported.
func runningSpec(release, version string) (string, error) {
	release = strings.TrimSpace(release)
	if m := debianBuild.FindStringSubmatch(version); m != nil && release != "" {
		return "debian:" + release, nil
	}
	return "", fmt.Errorf("%w: the running kernel %s is not a Debian kernel (its /proc/version names no Debian build), so create does not know its source: "+
		"pass --kernel debian:RELEASE (e.g. debian:6.1.0-55-amd64) for a Debian kernel, or --src DIR with the tree it was built from",
		verdict.ErrUnsupported, release)
}

// runningKernelSpec is runningSpec of this machine's kernel.
func runningKernelSpec() (string, error) {
	rel, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "", fmt.Errorf("the running kernel's release: %w (pass --kernel or --src)", err)
	}
	ver, err := os.ReadFile("/proc/version")
	if err != nil {
		return "", fmt.Errorf("the running kernel's version: %w (pass --kernel or --src)", err)
	}
	return runningSpec(string(rel), string(ver))
}
