package lab

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// Spec names a distribution kernel, such as "debian:6.1.0-55-amd64".
type Spec struct {
	Distro  string     // "debian"
	Release string     // the kernel release, as uname -r prints it: "6.1.0-55-amd64"
	ABI     string     // "6.1.0-55"
	Flavour string     // "amd64", "cloud-amd64", "arm64", ...
	Arch    *arch.Arch // the guest architecture the flavour runs on
}

var debianRelease = regexp.MustCompile(`^(\d+\.\d+\.\d+-\d+)-([a-z0-9]+(?:-[a-z0-9]+)*)$`)

// ParseSpec parses a kernel spec of the form "debian:RELEASE". Errors wrap
// verdict.ErrUnsupported for distributions or architectures the lab does not
// know.
func ParseSpec(s string) (Spec, error) {
	distro, release, ok := strings.Cut(s, ":")
	if !ok {
		return Spec{}, fmt.Errorf("kernel spec %q: want DISTRO:RELEASE, e.g. debian:6.1.0-55-amd64", s)
	}
	if distro != "debian" {
		return Spec{}, fmt.Errorf("kernel spec %q: %w distribution %q (only debian is known)", s, verdict.ErrUnsupported, distro)
	}
	m := debianRelease.FindStringSubmatch(release)
	if m == nil {
		return Spec{}, fmt.Errorf("kernel spec %q: release %q is not of the form ABI-FLAVOUR, e.g. 6.1.0-55-amd64", s, release)
	}
	flavour := m[2]
	deb := flavour[strings.LastIndex(flavour, "-")+1:]
	arch, err := archByDebian(deb)
	if err != nil {
		return Spec{}, fmt.Errorf("kernel spec %q: %w", s, err)
	}
	return Spec{Distro: distro, Release: release, ABI: m[1], Flavour: flavour, Arch: arch}, nil
}

// String returns the spec in the form ParseSpec accepts.
func (s Spec) String() string { return s.Distro + ":" + s.Release }
