package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/lab"
)

type labRunOptions struct {
	Kernel      string
	Cache       string
	Files       []string
	Modules     []string
	Timeout     time.Duration
	SMP         int
	MTTCG       bool
	Memory      int
	KVM         string
	Console     string
	GuestBinary string
	Append      []string
	Disk        string
	DiskMount   string
	Command     []string
}

func newLabRunCmd(s Streams) *cobra.Command {
	opts := &labRunOptions{}
	cmd := &cobra.Command{
		Use:   "run --kernel DISTRO:RELEASE [flags] -- CMD [ARG...]",
		Short: "Boot a kernel in QEMU and run a command in it as root",
		Long: `Boot a lab kernel (fetched first if needed) with a generated initramfs and run
CMD as root in the guest, in /root. The initramfs holds busybox, this ksplice
binary (or bin/ksplice-linux-ARCH beside it, for a guest of another
architecture) as /bin/ksplice, and the files given with --file. amd64 and
arm64 kernels boot; a guest of another architecture than the host's is
emulated.

CMD's stdout and stderr stream to ours, and ksplice exits with CMD's exit
status. The run fails, whatever CMD did, if the guest console shows an Oops,
BUG, WARNING, Call Trace or panic, or if the timeout passes.

--disk FILE gives the guest a persistent disk: a raw ext4 image (created, 64
MiB, if missing) that the guest mounts at --disk-mount (` + lab.DefaultDiskMount + `,
ksplice's state directory) before CMD and unmounts after it. Two runs with
the same disk are two boots of one machine: what the first wrote there, the
second finds. --append adds arguments to the guest kernel's command line.`,
		Example: `  ksplice lab run --kernel debian:6.1.0-55-amd64 -- uname -r
  ksplice lab run --kernel debian:6.1.0-55-amd64 --file hello.ko -- insmod hello.ko
  ksplice lab run --kernel debian:6.1.0-55-amd64 --console boot.log -- dmesg
  ksplice lab run --kernel debian:6.1.0-55-arm64 -- uname -m   # emulated on any host
  ksplice lab run --kernel debian:6.1.0-55-amd64 --append module.sig_enforce=1 -- cat /proc/cmdline
  ksplice lab run --kernel debian:6.1.0-55-amd64 --disk state.img -- ksplice apply --boot`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Command = args
			return runLabRun(cmd.Context(), opts, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Kernel, "kernel", "", "kernel to boot, e.g. debian:6.1.0-55-amd64 (required)")
	f.StringVar(&opts.Cache, "cache", "", "cache directory (default $KSPLICE_CACHE or "+kbuild.DefaultCacheDir+")")
	f.StringArrayVar(&opts.Files, "file", nil, "copy HOST[:GUEST] into the guest (default GUEST: /root/BASENAME); repeatable")
	f.StringArrayVar(&opts.Modules, "module", nil, "load this module of the kernel image (and what it needs) before CMD; repeatable")
	f.DurationVar(&opts.Timeout, "timeout", 5*time.Minute, "fail if the guest has not finished after this long")
	f.IntVar(&opts.SMP, "smp", 2, "virtual CPUs")
	f.BoolVar(&opts.MTTCG, "mttcg", false, "when emulating, run each virtual CPU in a thread of its own (QEMU 7.2 can then run stale code that another CPU rewrote)")
	f.IntVar(&opts.Memory, "memory", 1024, "guest memory in MiB")
	f.StringVar(&opts.KVM, "kvm", "auto", "hardware virtualisation: auto (only if a guest really boots with it), on, off")
	f.StringVar(&opts.Console, "console", "", "keep the full guest console log in this file")
	f.StringArrayVar(&opts.Append, "append", nil, "add this argument to the guest kernel's command line; repeatable")
	f.StringVar(&opts.Disk, "disk", "", "persistent disk image (raw ext4; created if missing) the guest mounts at --disk-mount")
	f.StringVar(&opts.DiskMount, "disk-mount", lab.DefaultDiskMount, "where the guest mounts --disk")
	f.StringVar(&opts.GuestBinary, "guest-ksplice", "", "ksplice binary for the guest (default: this one, or bin/ksplice-linux-ARCH beside it)")
	return cmd
}

func runLabRun(ctx context.Context, opts *labRunOptions, s Streams) error {
	if opts.Kernel == "" {
		return &usageError{errors.New("lab run: --kernel is required, e.g. --kernel debian:6.1.0-55-amd64")}
	}
	spec, err := lab.ParseSpec(opts.Kernel)
	if err != nil {
		return err
	}
	var files []lab.File
	for _, f := range opts.Files {
		lf, err := lab.ParseFile(f)
		if err != nil {
			return &usageError{err}
		}
		if _, err := os.Stat(lf.Host); err != nil {
			return fmt.Errorf("--file: %w", err)
		}
		files = append(files, lf)
	}
	guest, err := guestBinary(opts.GuestBinary, spec.Arch.GOARCH)
	if err != nil {
		return err
	}
	k, err := lab.Fetch(ctx, spec, lab.FetchOptions{CacheDir: opts.Cache, Log: s.ErrOut, BootOnly: true})
	if err != nil {
		return err
	}
	ro := lab.RunOptions{
		Kernel:         k,
		Command:        opts.Command,
		Files:          files,
		Modules:        opts.Modules,
		GuestBinary:    guest,
		SMP:            opts.SMP,
		MultiThreadTCG: opts.MTTCG,
		MemoryMB:       opts.Memory,
		KVM:            lab.KVMMode(opts.KVM),
		Timeout:        opts.Timeout,
		CacheDir:       opts.Cache,
		KernelArgs:     opts.Append,
		Disk:           opts.Disk,
		DiskMount:      opts.DiskMount,
		Stdout:         s.Out,
		Stderr:         s.ErrOut,
	}
	if opts.Console != "" {
		f, err := os.Create(opts.Console)
		if err != nil {
			return fmt.Errorf("--console: %w", err)
		}
		defer f.Close()
		ro.Console = f
	}
	res, err := lab.Run(ctx, ro)
	if err != nil {
		if opts.Console != "" {
			err = fmt.Errorf("%w (console log: %s)", err, opts.Console)
		}
		return err
	}
	if res.ExitCode != 0 {
		return &statusError{code: res.ExitCode}
	}
	return nil
}
