package upgrade

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/ksplice-go/ksplice/internal/run"
)

var debianABI = regexp.MustCompile(`^(\d+\.\d+\.\d+-)(\d+)(-.+)$`)

// DebianRelease returns the uname -r of Debian's kernel image of version
// to with the flavour of release ("6.1.0-53-amd64" and "6.1.190-1" give
// "6.1.0-54-amd64"), asking apt about the next few ABI numbers; "" if none
// is that version. The ABI number is bumped by most releases but not all.
func DebianRelease(ctx context.Context, release, to string) string {
	m := debianABI.FindStringSubmatch(release)
	if m == nil {
		return ""
	}
	abi, _ := strconv.Atoi(m[2])
	for n := abi; n <= abi+4; n++ {
		rel := fmt.Sprintf("%s%d%s", m[1], n, m[3])
		for _, pkg := range []string{"linux-image-" + rel, "linux-image-" + rel + "-unsigned"} {
			out, err := run.Command(ctx, "", "apt-cache", "madison", pkg)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Split(line, "|")
				if len(f) >= 2 && strings.TrimSpace(f[1]) == to {
					return rel
				}
			}
		}
	}
	return ""
}
