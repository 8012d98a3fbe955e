// Package repo reads and writes update repositories: a directory of update
// tarballs and a signed index that says, for each kernel release, which
// updates exist and in which order they apply. Any HTTP server or object
// store can serve the directory as it is; a client reads it over HTTP(S) or
// from a local directory.
//
// The package knows nothing of keys or of the running kernel: signing and
// verifying are functions the caller passes in (the CLI wires internal/sign
// in), and what is applied is the caller's business. The format is
// specified in docs/repository.md.
package repo
