// Package cli implements the ksplice command line: one file per command, each
// with an options struct and a run function that writes to injected streams,
// and the mapping from errors to exit codes (exit.go), which is decided here
// and nowhere else.
package cli
