package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// guestBinary finds a ksplice binary to put in a guest of arch goarch: the
// one named, else this very binary when the guest shares our architecture,
// else bin/ksplice-linux-GOARCH beside it (make build makes both).
func guestBinary(named, goarch string) (string, error) {
	if named != "" {
		return named, nil
	}
	if env := os.Getenv("KSPLICE_GUEST_BIN"); env != "" {
		return env, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find own binary: %w", err)
	}
	if goarch == runtime.GOARCH {
		return self, nil
	}
	other := filepath.Join(filepath.Dir(self), "ksplice-linux-"+goarch)
	if _, err := os.Stat(other); err != nil {
		return "", fmt.Errorf("no ksplice binary for %s guests: %s missing (make build, or --guest-ksplice)", goarch, other)
	}
	return other, nil
}
