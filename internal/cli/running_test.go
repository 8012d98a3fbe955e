package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/verdict"
)

func TestRunningSpec(t *testing.T) {
	// /proc/version of debian:6.1.0-55-amd64, read in the lab.
	const debian = "Linux version 6.1.0-55-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-1 (2026-11-14)\n"
	got, err := runningSpec("6.1.0-55-amd64\n", debian)
	if err != nil || got != "debian:6.1.0-55-amd64" {
		t.Errorf("Debian kernel: %q, %v; want debian:6.1.0-55-amd64", got, err)
	}
	for name, c := range map[string]struct{ release, version string }{
		"custom kernel on a Debian system": {"6.18.44-fc-v669", "Linux version 6.18.44-fc-v669 (builder@sandboxing) (gcc (GCC) 15.3.0, GNU ld (GNU Binutils) 2.46) #1 SMP PREEMPT_DYNAMIC @0"},
		"Ubuntu":                           {"6.8.0-40-generic", "Linux version 6.8.0-40-generic (buildd@lcy02-amd64-078) (x86_64-linux-gnu-gcc-12 (Ubuntu 12.3.0-1ubuntu1~22.04) 12.3.0) #40~22.04.3-Ubuntu SMP"},
	} {
		_, err := runningSpec(c.release, c.version)
		if !errors.Is(err, verdict.ErrUnsupported) || !strings.Contains(err.Error(), c.release) ||
			!strings.Contains(err.Error(), "--kernel debian:") || !strings.Contains(err.Error(), "--src") {
			t.Errorf("%s: err = %v, want an unsupported error naming the release and what to pass", name, err)
		}
	}
}
