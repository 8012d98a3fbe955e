package lab

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/verdict"
)

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in                                  string
		abi, series, flavour, variant, arch string
		scheme                              Scheme
	}{
		{"debian:6.1.0-55-amd64", "6.1.0-55", "6.1", "amd64", "", "amd64", ABINumber},
		{"debian:6.1.0-47-cloud-amd64", "6.1.0-47", "6.1", "cloud-amd64", "cloud", "amd64", ABINumber},
		{"debian:6.1.0-55-rt-amd64", "6.1.0-55", "6.1", "rt-amd64", "rt", "amd64", ABINumber},
		{"debian:6.1.0-55-arm64", "6.1.0-55", "6.1", "arm64", "", "arm64", ABINumber},
		{"debian:6.1.0-55-cloud-arm64", "6.1.0-55", "6.1", "cloud-arm64", "cloud", "arm64", ABINumber},
		{"debian:6.1.0-55-rt-arm64", "6.1.0-55", "6.1", "rt-arm64", "rt", "arm64", ABINumber},
		{"debian:5.10.0-30-amd64", "5.10.0-30", "5.10", "amd64", "", "amd64", ABINumber},
		{"debian:6.12.117+deb12-amd64", "6.12.117+deb12", "6.12", "amd64", "", "amd64", UpstreamVersion},
		{"debian:6.12.117+deb12-cloud-amd64", "6.12.117+deb12", "6.12", "cloud-amd64", "cloud", "amd64", UpstreamVersion},
		{"debian:6.12.117+deb12-rt-amd64", "6.12.117+deb12", "6.12", "rt-amd64", "rt", "amd64", UpstreamVersion},
		{"debian:6.12.117+deb12-arm64", "6.12.117+deb12", "6.12", "arm64", "", "arm64", UpstreamVersion},
		{"debian:6.12.117+deb12-cloud-arm64", "6.12.117+deb12", "6.12", "cloud-arm64", "cloud", "arm64", UpstreamVersion},
		{"debian:6.12.111+deb12-rt-arm64", "6.12.111+deb12", "6.12", "rt-arm64", "rt", "arm64", UpstreamVersion},
		{"debian:6.12.48+deb13-amd64", "6.12.48+deb13", "6.12", "amd64", "", "amd64", UpstreamVersion},
	} {
		t.Run(tc.in, func(t *testing.T) {
			s, err := ParseSpec(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			_, release, _ := strings.Cut(tc.in, ":")
			if s.Distro != "debian" || s.Release != release || s.ABI != tc.abi || s.Series != tc.series || s.Scheme != tc.scheme ||
				s.Flavour != tc.flavour || s.Variant != tc.variant || s.Arch.Debian != tc.arch {
				t.Errorf("ParseSpec(%q) = %+v", tc.in, s)
			}
			if s.String() != tc.in {
				t.Errorf("String() = %q, want %q", s.String(), tc.in)
			}
		})
	}
}

// TestParseSpecErrors checks that a bad spec is refused with an error that
// names the part that is wrong.
func TestParseSpecErrors(t *testing.T) {
	for _, tc := range []struct {
		in    string
		names []string // in the error message
		err   error    // wrapped, when set
	}{
		{"6.1.0-55-amd64", []string{"want DISTRO:RELEASE"}, nil},
		{"fedora:6.1.0-55-amd64", []string{`distribution "fedora"`}, verdict.ErrUnsupported},
		{"debian:latest", []string{`release "latest" does not start with an ABI`, "MAJOR.MINOR.0-N", "MAJOR.MINOR.PATCH+debN"}, nil},
		{"debian:", []string{`release "" does not start with an ABI`}, nil},
		// The upstream version without Debian's +debN.
		{"debian:6.12.117-amd64", []string{`release "6.12.117-amd64" does not start with an ABI`}, nil},
		// The ABI-number scheme's patch level is always 0.
		{"debian:6.1.192-55-amd64", []string{`release "6.1.192-55-amd64" does not start with an ABI`}, nil},
		{"debian:6.1.0-55", []string{`release "6.1.0-55" does not start with an ABI`}, nil},
		{"debian:6.12.117+deb12-", []string{"no flavour after the ABI 6.12.117+deb12"}, nil},
		{"debian:6.1.0-55-sparc64", []string{`flavour "sparc64"`, `"sparc64"`, "amd64 and arm64"}, verdict.ErrUnsupported},
		{"debian:6.1.0-55-amd46", []string{`flavour "amd46"`}, verdict.ErrUnsupported},
		{"debian:6.12.117+deb12-rpi-arm64", []string{`flavour "rpi-arm64"`, `variant "rpi"`, "cloud-arm64, rt-arm64"}, verdict.ErrUnsupported},
		{"debian:6.12.117+deb12-rt-cloud-amd64", []string{`flavour "rt-cloud-amd64" is not ARCH or VARIANT-ARCH`}, nil},
		{"debian:6.12.117+deb12-AMD64", []string{`flavour "AMD64" is not ARCH or VARIANT-ARCH`}, nil},
	} {
		t.Run(tc.in, func(t *testing.T) {
			s, err := ParseSpec(tc.in)
			if err == nil {
				t.Fatalf("ParseSpec(%q) = %+v, want an error", tc.in, s)
			}
			for _, n := range tc.names {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("error %q does not say %q", err, n)
				}
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("error %v does not wrap %v", err, tc.err)
			}
			if tc.err == nil && errors.Is(err, verdict.ErrUnsupported) {
				t.Errorf("error %v wraps ErrUnsupported: a malformed spec is not an unsupported kernel", err)
			}
		})
	}
}

// TestPackagesFor checks the packages chosen for each scheme and flavour:
// the rt flavours' common headers are a package of their own, and the
// upstream-version scheme has one linux-kbuild per ABI, at its version.
func TestPackagesFor(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want kernelPackages
	}{
		{"debian:6.1.0-55-amd64", kernelPackages{
			Image: "linux-image-6.1.0-55-amd64", ImageUnsigned: "linux-image-6.1.0-55-amd64-unsigned",
			Headers: "linux-headers-6.1.0-55-amd64", Common: "linux-headers-6.1.0-55-common",
			Kbuild: "linux-kbuild-6.1", Source: "linux-source-6.1"}},
		{"debian:6.1.0-55-cloud-arm64", kernelPackages{
			Image: "linux-image-6.1.0-55-cloud-arm64", ImageUnsigned: "linux-image-6.1.0-55-cloud-arm64-unsigned",
			Headers: "linux-headers-6.1.0-55-cloud-arm64", Common: "linux-headers-6.1.0-55-common",
			Kbuild: "linux-kbuild-6.1", Source: "linux-source-6.1"}},
		{"debian:6.1.0-55-rt-amd64", kernelPackages{
			Image: "linux-image-6.1.0-55-rt-amd64", ImageUnsigned: "linux-image-6.1.0-55-rt-amd64-unsigned",
			Headers: "linux-headers-6.1.0-55-rt-amd64", Common: "linux-headers-6.1.0-55-common-rt",
			Kbuild: "linux-kbuild-6.1", Source: "linux-source-6.1"}},
		{"debian:6.12.117+deb12-amd64", kernelPackages{
			Image: "linux-image-6.12.117+deb12-amd64", ImageUnsigned: "linux-image-6.12.117+deb12-amd64-unsigned",
			Headers: "linux-headers-6.12.117+deb12-amd64", Common: "linux-headers-6.12.117+deb12-common",
			Kbuild: "linux-kbuild-6.12.117+deb12", KbuildPinned: true, Source: "linux-source-6.12"}},
		{"debian:6.12.117+deb12-cloud-amd64", kernelPackages{
			Image: "linux-image-6.12.117+deb12-cloud-amd64", ImageUnsigned: "linux-image-6.12.117+deb12-cloud-amd64-unsigned",
			Headers: "linux-headers-6.12.117+deb12-cloud-amd64", Common: "linux-headers-6.12.117+deb12-common",
			Kbuild: "linux-kbuild-6.12.117+deb12", KbuildPinned: true, Source: "linux-source-6.12"}},
		{"debian:6.12.117+deb12-rt-arm64", kernelPackages{
			Image: "linux-image-6.12.117+deb12-rt-arm64", ImageUnsigned: "linux-image-6.12.117+deb12-rt-arm64-unsigned",
			Headers: "linux-headers-6.12.117+deb12-rt-arm64", Common: "linux-headers-6.12.117+deb12-common-rt",
			Kbuild: "linux-kbuild-6.12.117+deb12", KbuildPinned: true, Source: "linux-source-6.12"}},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			spec, err := ParseSpec(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if got := packagesFor(spec); got != tc.want {
				t.Errorf("packagesFor = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestServedReleases checks the releases suggested when a kernel is not
// served: same series, scheme and flavour, in numeric order.
func TestServedReleases(t *testing.T) {
	names := []string{
		"linux-image-6.1.0-9-amd64", "linux-image-6.1.0-55-amd64", "linux-image-6.1.0-55-amd64-unsigned",
		"linux-image-6.1.0-55-rt-amd64", "linux-image-6.1.0-47-amd64", "linux-image-6.1.0-55-amd64-dbg",
		"linux-image-6.12.117+deb12-amd64", "linux-image-6.12.99+deb12-amd64", "linux-image-6.12.107+deb12-amd64",
		"linux-image-6.12.117+deb12-cloud-amd64", "linux-image-6.12.117+deb12-amd64-unsigned", "linux-image-6.12.117+deb12-amd64",
		"linux-image-6.10.0-1-amd64",
	}
	for _, tc := range []struct {
		spec string
		want []string
	}{
		{"debian:6.1.0-1-amd64", []string{"6.1.0-9-amd64", "6.1.0-47-amd64", "6.1.0-55-amd64"}},
		{"debian:6.1.0-1-rt-amd64", []string{"6.1.0-55-rt-amd64"}},
		{"debian:6.12.1+deb12-amd64", []string{"6.12.99+deb12-amd64", "6.12.107+deb12-amd64", "6.12.117+deb12-amd64"}},
		{"debian:6.12.1+deb12-cloud-amd64", []string{"6.12.117+deb12-cloud-amd64"}},
		{"debian:6.12.1+deb12-arm64", []string{}},
	} {
		spec, err := ParseSpec(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := servedReleases(spec, names); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: served %q, want %q", tc.spec, got, tc.want)
		}
	}
}
