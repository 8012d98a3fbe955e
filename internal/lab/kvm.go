package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// kvmProbeTimeout bounds the trial boot that decides whether KVM works. A
// guest that boots with KVM does so in a few seconds.
const kvmProbeTimeout = 45 * time.Second

// chooseAccel picks "kvm" or "tcg". /dev/kvm being there is not enough: on
// nested hypervisors QEMU+KVM can fail in the middle of boot, so "auto"
// boots the real kernel once with KVM and remembers the verdict for this host
// boot.
func chooseAccel(ctx context.Context, g *guest, opts RunOptions) (string, error) {
	switch opts.KVM {
	case KVMOff:
		return "tcg", nil
	case KVMOn:
		if err := kvmUsable(g.Arch); err != nil {
			return "", err
		}
		return "kvm", nil
	case KVMAuto, "":
	default:
		return "", fmt.Errorf("--kvm %q: want auto, on or off", opts.KVM)
	}
	if kvmUsable(g.Arch) != nil {
		return "tcg", nil
	}
	memo := kvmMemoPath(opts.CacheDir, opts.Kernel.Release)
	if b, err := os.ReadFile(memo); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	probe := opts
	probe.Command = []string{"true"}
	probe.Files = nil
	probe.Timeout = kvmProbeTimeout
	probe.Stdout, probe.Stderr, probe.Console = nil, nil, nil
	accel := "tcg"
	if res, err := boot(ctx, g, "kvm", probe); err == nil && res.ExitCode == 0 {
		accel = "kvm"
	} else if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if err := os.MkdirAll(filepath.Dir(memo), 0o755); err == nil {
		os.WriteFile(memo, []byte(accel+"\n"), 0o644)
	}
	return accel, nil
}

// kvmUsable says whether KVM can be tried at all: same architecture as the
// host and /dev/kvm openable.
func kvmUsable(a *arch.Arch) error {
	if a.Debian != hostDebianArch() {
		return fmt.Errorf("%w: KVM runs only guests of the host's architecture (%s), not %s", verdict.ErrUnsupported, hostDebianArch(), a.Debian)
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("%w: KVM: %v", verdict.ErrUnsupported, err)
	}
	f.Close()
	return nil
}

// kvmMemoPath keys the probe's verdict by host boot, since a reboot or a
// new machine may change it, and by guest kernel.
func kvmMemoPath(cacheDir, release string) string {
	id, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		id = []byte("unknown")
	}
	return filepath.Join(kbuild.CacheDir(cacheDir), "kvm-probe", strings.TrimSpace(string(id))+"-"+release)
}
