// Package delta turns two releases of a distribution's kernel source into
// the list of what changed between them: it fetches the source package of
// a release (Debian's linux-source-SERIES, cached by version), lists every
// file that differs between two trees, classifies each against a running
// kernel's configuration (C built into vmlinux or a module, C the
// configuration does not build, header, assembly or build-only), and reads
// the distribution's changelog entries between the two versions, matched
// to the files they name, best effort.
//
// It decides nothing about updates: package upgrade makes them from the
// list.
package delta
