package lab

import (
	"fmt"
	"runtime"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// guest is how the lab boots kernels of one architecture, and runs its
// native toolchain on another host. What the architecture is called
// (Debian, Go, Kbuild, GNU) is the arch.Arch's; only the lab's own choices
// are here.
type guest struct {
	*arch.Arch

	// QEMU is the system emulator, from the Debian package QEMUPackage;
	// QEMUUser the user-mode emulator that runs the architecture's
	// toolchain on another host (see toolchain.go).
	QEMU        string
	QEMUPackage string
	QEMUUser    string
	// MachineArgs select the machine and CPU model.
	MachineArgs []string
	// Console is the guest's kernel console device; the command's own
	// stdout and stderr travel on OutputDev and ErrorDev, ports of their own,
	// so that they never mix with kernel messages.
	Console   string
	OutputDev string
	ErrorDev  string
	// OutputBus are QEMU arguments, given once, that add the bus the
	// output ports sit on; none for serial ports.
	OutputBus []string
	// OutputPort is the QEMU -device that makes one output port, with %s
	// for its chardev id; "" makes each an extra serial port.
	OutputPort string
	// OutputModules are modules of the image that make the output ports
	// appear in the guest; init loads them, and waits for OutputDev and
	// ErrorDev, before anything else.
	OutputModules []string
	// KVMArgs are added when KVM is used.
	KVMArgs []string
	// DiskDevice is the QEMU -device of the persistent disk (a virtio
	// block device), and DiskModules the modules of the image that make
	// it appear and mount it (those built in are skipped). ext4 asks the
	// crypto API for crc32c, which the guest, without a modprobe helper,
	// cannot load on demand: it is loaded first.
	DiskDevice  string
	DiskModules []string
}

// guests is the lab's table of the architectures it boots.
var guests = []*guest{
	{
		Arch:        mustArch("amd64"),
		QEMU:        "qemu-system-x86_64",
		QEMUPackage: "qemu-system-x86",
		QEMUUser:    "qemu-x86_64",
		MachineArgs: []string{"-machine", "q35"},
		Console:     "ttyS0",
		OutputDev:   "ttyS1",
		ErrorDev:    "ttyS2",
		KVMArgs:     []string{"-cpu", "host"},
		DiskDevice:  "virtio-blk-pci",
		DiskModules: []string{"virtio_pci", "virtio_blk", "crc32c_generic", "ext4"},
	},
	// QEMU's virt machine has a single PL011 UART, the console; the
	// command's streams go to ports of a virtio-serial device (vport0p1,
	// vport0p2), whose drivers Debian builds as modules. Virtio console
	// ports (hvc) would be ttys as well, but pass output 16 bytes at a
	// time: 1.3 MB of output took 28 s under TCG, against 1 s on these.
	{
		Arch:        mustArch("arm64"),
		QEMU:        "qemu-system-aarch64",
		QEMUPackage: "qemu-system-arm",
		QEMUUser:    "qemu-aarch64",
		// A CPU with pointer authentication, so that the kernel's
		// paciasp/autiasp pairs really check return addresses, as on
		// current hardware; cortex-a72 lacks it (the instructions are
		// NOPs there) and plain "max" computes QARMA under TCG, which is
		// slow. Measured here: 3.0-3.3 s per run, cortex-a72 2.4-2.5 s.
		MachineArgs:   []string{"-machine", "virt", "-cpu", "max,pauth-impdef=on"},
		Console:       "ttyAMA0",
		OutputDev:     "vport0p1",
		ErrorDev:      "vport0p2",
		OutputBus:     []string{"-device", "virtio-serial-device"},
		OutputPort:    "virtserialport,chardev=%s",
		OutputModules: []string{"virtio_mmio", "virtio_console"},
		KVMArgs:       []string{"-cpu", "host"},
		DiskDevice:    "virtio-blk-device",
		DiskModules:   []string{"virtio_mmio", "virtio_blk", "crc32c_generic", "ext4"},
	},
}

func mustArch(name string) *arch.Arch {
	a, err := arch.ByName(name)
	if err != nil {
		panic(err)
	}
	return a
}

// guestFor returns how the lab boots kernels of a. The error wraps
// verdict.ErrUnsupported.
func guestFor(a *arch.Arch) (*guest, error) {
	for _, g := range guests {
		if g.Arch == a {
			return g, nil
		}
	}
	return nil, fmt.Errorf("%w guest architecture %q (the lab boots amd64 and arm64 guests)", verdict.ErrUnsupported, a.Debian)
}

// archByDebian returns the architecture Debian calls name, if the lab
// boots it. The error wraps verdict.ErrUnsupported.
func archByDebian(name string) (*arch.Arch, error) {
	a, err := arch.ByName(name)
	if err != nil || a.Debian != name {
		return nil, fmt.Errorf("%w guest architecture %q (the lab boots amd64 and arm64 guests)", verdict.ErrUnsupported, name)
	}
	if _, err := guestFor(a); err != nil {
		return nil, err
	}
	return a, nil
}

// hostDebianArch is the Debian name of the machine the lab runs on.
func hostDebianArch() string {
	if a, err := arch.ByName(runtime.GOARCH); err == nil {
		return a.Debian
	}
	return runtime.GOARCH
}
