package lab

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// Spec names a distribution kernel, such as "debian:6.1.0-55-amd64" or
// "debian:6.12.117+deb12-rt-arm64".
type Spec struct {
	Distro  string     // "debian"
	Release string     // the kernel release, as uname -r prints it: "6.1.0-55-amd64"
	ABI     string     // "6.1.0-55", "6.12.117+deb12"
	Series  string     // the upstream series, as linux-source-SERIES names it: "6.1", "6.12"
	Scheme  Scheme     // how ABI is spelt
	Flavour string     // "amd64", "cloud-amd64", "rt-arm64", ...
	Variant string     // the flavour without its architecture: "", "cloud", "rt"
	Arch    *arch.Arch // the guest architecture the flavour runs on
}

// Scheme is one of Debian's ways of naming a kernel ABI.
type Scheme int

const (
	// ABINumber is MAJOR.MINOR.0-N, "6.1.0-55": Debian 12's own kernels
	// (and older releases'), whose N is bumped when the ABI changes.
	ABINumber Scheme = iota + 1
	// UpstreamVersion is MAJOR.MINOR.PATCH+debN, "6.12.117+deb12": the
	// upstream version and the Debian release, as Debian 13 and the 6.12
	// kernels in bookworm-security name them; each upload is an ABI.
	UpstreamVersion
)

func (s Scheme) String() string {
	switch s {
	case ABINumber:
		return "MAJOR.MINOR.0-N"
	case UpstreamVersion:
		return "MAJOR.MINOR.PATCH+debN"
	}
	return fmt.Sprintf("Scheme(%d)", int(s))
}

// variants are the flavours Debian builds for each architecture, by the
// prefix before the architecture: "" (the generic flavour), "cloud-"
// (fewer drivers, for virtual machines) and "rt-" (PREEMPT_RT).
var variants = []string{"", "cloud", "rt"}

var (
	abiNumberRe       = regexp.MustCompile(`^((\d+\.\d+)\.0-\d+)-(.*)$`)
	upstreamVersionRe = regexp.MustCompile(`^((\d+\.\d+)\.\d+\+deb\d+)-(.*)$`)
	flavourRe         = regexp.MustCompile(`^(?:([a-z0-9]+)-)?([a-z0-9]+)$`)
)

// ParseSpec parses a kernel spec, "debian:ABI-FLAVOUR", where ABI is
// MAJOR.MINOR.0-N ("6.1.0-55") or MAJOR.MINOR.PATCH+debN ("6.12.117+deb12")
// and FLAVOUR is ARCH, cloud-ARCH or rt-ARCH for the architectures the lab
// boots (amd64, arm64). The error names the part that is wrong; it wraps
// verdict.ErrUnsupported for distributions or architectures the lab does
// not know.
func ParseSpec(s string) (Spec, error) {
	distro, release, ok := strings.Cut(s, ":")
	if !ok {
		return Spec{}, fmt.Errorf("kernel spec %q: want DISTRO:RELEASE, e.g. debian:6.1.0-55-amd64", s)
	}
	if distro != "debian" {
		return Spec{}, fmt.Errorf("kernel spec %q: %w distribution %q (only debian is known)", s, verdict.ErrUnsupported, distro)
	}
	spec, err := parseDebianRelease(release)
	if err != nil {
		return Spec{}, fmt.Errorf("kernel spec %q: %w", s, err)
	}
	spec.Distro = distro
	return spec, nil
}

// parseDebianRelease splits a Debian kernel release into its ABI and
// flavour.
func parseDebianRelease(release string) (Spec, error) {
	spec := Spec{Release: release}
	var m []string
	if m = abiNumberRe.FindStringSubmatch(release); m != nil {
		spec.Scheme = ABINumber
	} else if m = upstreamVersionRe.FindStringSubmatch(release); m != nil {
		spec.Scheme = UpstreamVersion
	} else {
		return Spec{}, fmt.Errorf("release %q does not start with an ABI: want %s (6.1.0-55) or %s (6.12.117+deb12), then -FLAVOUR, e.g. 6.1.0-55-amd64 or 6.12.117+deb12-amd64",
			release, ABINumber, UpstreamVersion)
	}
	spec.ABI, spec.Series, spec.Flavour = m[1], m[2], m[3]
	if spec.Flavour == "" {
		return Spec{}, fmt.Errorf("release %q: no flavour after the ABI %s (want e.g. %s-amd64)", release, spec.ABI, spec.ABI)
	}
	f := flavourRe.FindStringSubmatch(spec.Flavour)
	if f == nil {
		return Spec{}, fmt.Errorf("release %q: flavour %q is not ARCH or VARIANT-ARCH (Debian's: %s)", release, spec.Flavour, flavourList())
	}
	spec.Variant = f[1]
	a, err := archByDebian(f[2])
	if err != nil {
		return Spec{}, fmt.Errorf("release %q: flavour %q: %w", release, spec.Flavour, err)
	}
	spec.Arch = a
	known := false
	for _, v := range variants {
		known = known || v == spec.Variant
	}
	if !known {
		return Spec{}, fmt.Errorf("release %q: flavour %q: %w variant %q (Debian's flavours: %s)",
			release, spec.Flavour, verdict.ErrUnsupported, spec.Variant, flavourList())
	}
	return spec, nil
}

// flavourList names the flavours the lab knows, for error messages.
func flavourList() string {
	var names []string
	for _, g := range guests {
		for _, v := range variants {
			if v == "" {
				names = append(names, g.Debian)
			} else {
				names = append(names, v+"-"+g.Debian)
			}
		}
	}
	return strings.Join(names, ", ")
}

// String returns the spec in the form ParseSpec accepts.
func (s Spec) String() string { return s.Distro + ":" + s.Release }
