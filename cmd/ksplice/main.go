// Command ksplice builds rebootless Linux kernel updates from a unified diff
// and applies them to a running kernel. See README.md for the quick start.
package main

import (
	"os"

	"github.com/ksplice-go/ksplice/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.SystemStreams()))
}
