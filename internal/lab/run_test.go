package lab

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/kbuild"
)

// TestQEMUCommand checks the whole command line that boots each guest.
func TestQEMUCommand(t *testing.T) {
	k := &kbuild.Kernel{Image: "/c/vmlinuz"}
	socks := [len(portNames)]string{"/t/console.sock", "/t/stdout.sock", "/t/stderr.sock"}
	for _, tc := range []struct {
		arch, accel string
		opts        RunOptions
		argv        string
		cmdline     string
	}{
		{
			arch: "amd64", accel: "tcg", opts: RunOptions{Kernel: k},
			argv: "qemu-system-x86_64 -machine q35 -accel tcg,thread=single -smp 2 -m 1024 -kernel /c/vmlinuz -initrd /t/initrd " +
				"-append console=ttyS0 panic=-1 oops=panic -nodefaults -display none -monitor none -no-reboot " +
				"-chardev socket,id=console,path=/t/console.sock -serial chardev:console " +
				"-chardev socket,id=stdout,path=/t/stdout.sock -serial chardev:stdout " +
				"-chardev socket,id=stderr,path=/t/stderr.sock -serial chardev:stderr",
			cmdline: "console=ttyS0 panic=-1 oops=panic",
		},
		{
			arch: "amd64", accel: "kvm", opts: RunOptions{Kernel: k, SMP: 4, MemoryMB: 512},
			argv: "qemu-system-x86_64 -machine q35 -accel kvm -smp 4 -m 512 -kernel /c/vmlinuz -initrd /t/initrd " +
				"-append console=ttyS0 panic=-1 oops=panic -nodefaults -display none -monitor none -no-reboot -cpu host " +
				"-chardev socket,id=console,path=/t/console.sock -serial chardev:console " +
				"-chardev socket,id=stdout,path=/t/stdout.sock -serial chardev:stdout " +
				"-chardev socket,id=stderr,path=/t/stderr.sock -serial chardev:stderr",
			cmdline: "console=ttyS0 panic=-1 oops=panic",
		},
		{
			// A thread per vCPU under TCG only when asked for; KVM has no such choice.
			arch: "amd64", accel: "tcg", opts: RunOptions{Kernel: k, MultiThreadTCG: true},
			argv: "qemu-system-x86_64 -machine q35 -accel tcg -smp 2 -m 1024 -kernel /c/vmlinuz -initrd /t/initrd " +
				"-append console=ttyS0 panic=-1 oops=panic -nodefaults -display none -monitor none -no-reboot " +
				"-chardev socket,id=console,path=/t/console.sock -serial chardev:console " +
				"-chardev socket,id=stdout,path=/t/stdout.sock -serial chardev:stdout " +
				"-chardev socket,id=stderr,path=/t/stderr.sock -serial chardev:stderr",
			cmdline: "console=ttyS0 panic=-1 oops=panic",
		},
		{
			arch: "amd64", accel: "kvm", opts: RunOptions{Kernel: k, MultiThreadTCG: true},
			argv: "qemu-system-x86_64 -machine q35 -accel kvm -smp 2 -m 1024 -kernel /c/vmlinuz -initrd /t/initrd " +
				"-append console=ttyS0 panic=-1 oops=panic -nodefaults -display none -monitor none -no-reboot -cpu host " +
				"-chardev socket,id=console,path=/t/console.sock -serial chardev:console " +
				"-chardev socket,id=stdout,path=/t/stdout.sock -serial chardev:stdout " +
				"-chardev socket,id=stderr,path=/t/stderr.sock -serial chardev:stderr",
			cmdline: "console=ttyS0 panic=-1 oops=panic",
		},
		{
			// The command's streams on virtio serial ports, the console on
			// the PL011.
			arch: "arm64", accel: "tcg", opts: RunOptions{Kernel: k},
			argv: "qemu-system-aarch64 -machine virt -cpu max,pauth-impdef=on -accel tcg,thread=single -smp 2 -m 1024 -kernel /c/vmlinuz -initrd /t/initrd " +
				"-append console=ttyAMA0 panic=-1 oops=panic -nodefaults -display none -monitor none -no-reboot " +
				"-device virtio-serial-device " +
				"-chardev socket,id=console,path=/t/console.sock -serial chardev:console " +
				"-chardev socket,id=stdout,path=/t/stdout.sock -device virtserialport,chardev=stdout " +
				"-chardev socket,id=stderr,path=/t/stderr.sock -device virtserialport,chardev=stderr",
			cmdline: "console=ttyAMA0 panic=-1 oops=panic",
		},
		{
			// A persistent disk and kernel arguments.
			arch: "amd64", accel: "tcg", opts: RunOptions{Kernel: k, Disk: "/d/disk.img", KernelArgs: []string{"module.sig_enforce=1", "noksplice"}},
			argv: "qemu-system-x86_64 -machine q35 -accel tcg,thread=single -smp 2 -m 1024 -kernel /c/vmlinuz -initrd /t/initrd " +
				"-append console=ttyS0 panic=-1 oops=panic module.sig_enforce=1 noksplice -nodefaults -display none -monitor none -no-reboot " +
				"-drive file=/d/disk.img,format=raw,if=none,id=disk0,cache=writeback -device virtio-blk-pci,drive=disk0 " +
				"-chardev socket,id=console,path=/t/console.sock -serial chardev:console " +
				"-chardev socket,id=stdout,path=/t/stdout.sock -serial chardev:stdout " +
				"-chardev socket,id=stderr,path=/t/stderr.sock -serial chardev:stderr",
			cmdline: "console=ttyS0 panic=-1 oops=panic module.sig_enforce=1 noksplice",
		},
		{
			arch: "arm64", accel: "tcg", opts: RunOptions{Kernel: k, Disk: "/d/disk.img"},
			argv: "qemu-system-aarch64 -machine virt -cpu max,pauth-impdef=on -accel tcg,thread=single -smp 2 -m 1024 -kernel /c/vmlinuz -initrd /t/initrd " +
				"-append console=ttyAMA0 panic=-1 oops=panic -nodefaults -display none -monitor none -no-reboot " +
				"-drive file=/d/disk.img,format=raw,if=none,id=disk0,cache=writeback -device virtio-blk-device,drive=disk0 " +
				"-device virtio-serial-device " +
				"-chardev socket,id=console,path=/t/console.sock -serial chardev:console " +
				"-chardev socket,id=stdout,path=/t/stdout.sock -device virtserialport,chardev=stdout " +
				"-chardev socket,id=stderr,path=/t/stderr.sock -device virtserialport,chardev=stderr",
			cmdline: "console=ttyAMA0 panic=-1 oops=panic",
		},
	} {
		t.Run(tc.arch+"-"+tc.accel+"-"+tc.opts.Disk, func(t *testing.T) {
			argv, cmdline := qemuCommand(mustGuest(t, tc.arch), tc.accel, tc.opts.withDefaults(), "/t/initrd", socks)
			// -append's argument is one word with spaces.
			for i, a := range argv {
				if i > 0 && argv[i-1] == "-append" && a != tc.cmdline {
					t.Errorf("-append %q, want %q", a, tc.cmdline)
				}
			}
			if got := strings.Join(argv, " "); got != tc.argv {
				t.Errorf("argv:\n%s\nwant\n%s", got, tc.argv)
			}
			if cmdline != tc.cmdline {
				t.Errorf("cmdline %q, want %q", cmdline, tc.cmdline)
			}
		})
	}
}

// TestRunOutcome checks what a finished guest run reports, from what its
// console showed.
func TestRunOutcome(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mon     *consoleMonitor
		stalled bool
		ctxErr  error
		want    error  // errors.Is
		msg     string // in the message
	}{
		{name: "ran", mon: &consoleMonitor{exit: 3}},
		{name: "stalled", mon: &consoleMonitor{exit: -1, last: "[ 0.1] x"}, stalled: true, ctxErr: context.Canceled, want: errBootStalled},
		{name: "oops while stalled", mon: &consoleMonitor{exit: -1, problem: "Oops: 1", initRan: true}, stalled: true, want: ErrGuestKernel},
		{name: "warning", mon: &consoleMonitor{exit: 0, problem: "WARNING: x", initRan: true}, want: ErrGuestKernel},
		{name: "oops before init", mon: &consoleMonitor{exit: -1, problem: "Oops: double fault"}, want: errBootCrashed, msg: "double fault"},
		{name: "timeout", mon: &consoleMonitor{exit: -1}, ctxErr: context.DeadlineExceeded, want: ErrTimeout, msg: "after 20s"},
		{name: "interrupted", mon: &consoleMonitor{exit: -1}, ctxErr: context.Canceled, want: context.Canceled},
		{name: "modprobe", mon: &consoleMonitor{exit: 0, modprobe: "ext4"}, msg: "modprobe ext4 failed"},
		{name: "no port", mon: &consoleMonitor{exit: -1, noPort: "/dev/vport0p1"}, msg: "output port /dev/vport0p1"},
		{name: "no disk", mon: &consoleMonitor{exit: -1, noDisk: "/dev/vda '/var/lib/ksplice'"}, msg: "could not mount the lab disk (/dev/vda"},
		{name: "not found", mon: &consoleMonitor{exit: 127, notFound: "frob"}, want: ErrCommandNotFound, msg: "frob"},
		{name: "died", mon: &consoleMonitor{exit: -1, last: "[ 1.0] end"}, msg: `before the command finished (last console line: "[ 1.0] end") qemu: boom`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.mon.outcome(tc.stalled, tc.ctxErr, 20*time.Second, nil, "qemu: boom\n")
			if tc.want == nil && tc.msg == "" {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("err = nil")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("err = %v, want it to say %q", err, tc.msg)
			}
		})
	}
}

// TestConsoleMonitorInit checks that a kernel problem counts as a boot
// crash, which Run boots again for, only when the kernel had not started
// init yet: after it, user space ran, and the problem is the run's.
func TestConsoleMonitorInit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		console string
		crashed bool
	}{
		{name: "early", console: "[    0.461944] pid_max: default: 32768 minimum: 301\n[    0.465770] traps: PANIC: double fault, error_code: 0x0\n[    0.467315] Oops: double fault: 0000 [#1] PREEMPT SMP NOPTI\n", crashed: true},
		{name: "after init", console: "[    1.0] Run /init as init process\n[    2.0] ksplice: x\n[    3.0] BUG: unable to handle page fault\n"},
		{name: "init after the oops", console: "[    0.4] Oops: 0000\n[    1.0] Run /init as init process\n", crashed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &consoleMonitor{log: io.Discard}
			m.read(strings.NewReader(tc.console))
			err := m.outcome(false, nil, time.Minute, nil, "")
			if !errors.Is(err, ErrGuestKernel) {
				t.Fatalf("err = %v, want a kernel problem", err)
			}
			if got := errors.Is(err, errBootCrashed); got != tc.crashed {
				t.Errorf("boot crash = %v, want %v (err %v)", got, tc.crashed, err)
			}
		})
	}
}
