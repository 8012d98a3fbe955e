package lab

import (
	"regexp"
	"sort"
	"strconv"
)

// kernelPackages are the Debian packages that make one kernel in the lab,
// by name (without version or architecture).
type kernelPackages struct {
	// Image is the kernel image and its modules: the package Debian
	// installs (signed for Secure Boot; the signature does not stop QEMU's
	// -kernel); ImageUnsigned is the same build unsigned, taken when the
	// mirror does not serve the signed one.
	Image, ImageUnsigned string
	// Headers are the flavour's headers; Common the headers all flavours
	// of the ABI share, a package of their own for the rt flavours.
	Headers, Common string
	// Kbuild holds the host tools (fixdep, modpost, objtool's build) the
	// headers' scripts link to. KbuildPinned says it is taken at the
	// image's version: with the upstream-version scheme it is one package
	// per ABI; with the ABI-number scheme one per series, which the mirror
	// keeps at its newest version only.
	Kbuild       string
	KbuildPinned bool
	// Source is the series' source, taken at the image's version.
	Source string
}

// packagesFor returns the packages that make the kernel spec names.
func packagesFor(spec Spec) kernelPackages {
	common := "linux-headers-" + spec.ABI + "-common"
	if spec.Variant == "rt" {
		common += "-rt"
	}
	p := kernelPackages{
		Image:         "linux-image-" + spec.Release,
		ImageUnsigned: "linux-image-" + spec.Release + "-unsigned",
		Headers:       "linux-headers-" + spec.Release,
		Common:        common,
		Source:        "linux-source-" + spec.Series,
	}
	switch spec.Scheme {
	case UpstreamVersion:
		p.Kbuild, p.KbuildPinned = "linux-kbuild-"+spec.ABI, true
	default:
		p.Kbuild = "linux-kbuild-" + spec.Series
	}
	return p
}

// imagePrefix is the start of the image package names of spec's series,
// for `apt-cache pkgnames`.
func imagePrefix(spec Spec) string { return "linux-image-" + spec.Series + "." }

// servedReleases picks, from package names, the releases of spec's series,
// scheme and flavour that have image packages, oldest first.
func servedReleases(spec Spec, pkgnames []string) []string {
	series := regexp.QuoteMeta(spec.Series)
	var abi string
	switch spec.Scheme {
	case UpstreamVersion:
		abi = series + `\.(\d+)\+deb\d+`
	default:
		abi = series + `\.0-(\d+)`
	}
	re := regexp.MustCompile(`^linux-image-(` + abi + `-` + regexp.QuoteMeta(spec.Flavour) + `)$`)
	type rel struct {
		name string
		n    int
	}
	var rels []rel
	seen := map[string]bool{}
	for _, p := range pkgnames {
		if m := re.FindStringSubmatch(p); m != nil && !seen[m[1]] {
			seen[m[1]] = true
			n, _ := strconv.Atoi(m[2])
			rels = append(rels, rel{m[1], n})
		}
	}
	sort.Slice(rels, func(i, j int) bool { return rels[i].n < rels[j].n })
	names := make([]string, len(rels))
	for i, r := range rels {
		names[i] = r.name
	}
	return names
}
