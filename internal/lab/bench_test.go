package lab_test

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
)

// BenchmarkFetch measures preparing a kernel into an empty cache (cold)
// against reusing the prepared one (warm).
func BenchmarkFetch(b *testing.B) {
	k := labtest.Kernel(b)
	spec, _ := lab.ParseSpec(k.Spec)
	b.Run("warm", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := lab.Fetch(context.Background(), spec, lab.FetchOptions{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cold", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			dir, err := os.MkdirTemp("", "ksplice-bench-cache-")
			if err != nil {
				b.Fatal(err)
			}
			if _, err := lab.Fetch(context.Background(), spec, lab.FetchOptions{CacheDir: dir}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			os.RemoveAll(dir)
			b.StartTimer()
		}
	})
}

// BenchmarkBoot measures QEMU start to the command starting in the guest,
// per lab kernel (labtest.Kernels) and accelerator, and reports the guest
// kernel's own boot time (uptime at /init) as the floor it is compared with.
func BenchmarkBoot(b *testing.B) {
	if !labtest.Enabled() {
		b.Skip("lab benchmark: set KSPLICE_LAB=1 (make bench does) to boot real kernels")
	}
	for _, spec := range labtest.Kernels() {
		_, release, _ := strings.Cut(spec, ":")
		b.Run(release, func(b *testing.B) { benchBoot(b, labtest.KernelFor(b, spec)) })
	}
}

func benchBoot(b *testing.B, k *kbuild.Kernel) {
	for _, mode := range []lab.KVMMode{lab.KVMOff, lab.KVMOn} {
		b.Run(map[lab.KVMMode]string{lab.KVMOff: "tcg", lab.KVMOn: "kvm"}[mode], func(b *testing.B) {
			var boot, total, kernel time.Duration
			for i := 0; i < b.N; i++ {
				out, err := labtest.RunErr(b, lab.RunOptions{Kernel: k, KVM: mode, Command: []string{"true"}, Timeout: time.Minute})
				if err != nil {
					if mode == lab.KVMOn {
						b.Skipf("KVM does not work on this machine: %v", err)
					}
					b.Fatal(err)
				}
				boot += out.Result.Boot
				total += out.Result.Total
				kernel += guestUptimeAtStart(out.Console)
			}
			n := float64(b.N)
			b.ReportMetric(boot.Seconds()/n, "boot-s")
			b.ReportMetric(kernel.Seconds()/n, "kernel-boot-s")
			b.ReportMetric(total.Seconds()/n, "total-s")
			b.ReportMetric(boot.Seconds()/kernel.Seconds(), "boot/kernel")
		})
	}
}

// guestUptimeAtStart reads the uptime init printed when the command started.
func guestUptimeAtStart(console string) time.Duration {
	for _, l := range strings.Split(console, "\n") {
		if _, v, ok := strings.Cut(l, "KSPLICE-LAB-START "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return time.Duration(f * float64(time.Second))
		}
	}
	return 0
}
