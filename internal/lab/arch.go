package lab

import (
	"fmt"

	"github.com/ksplice-go/ksplice/internal/verdict"
)

// Arch describes how to build for and boot one guest architecture.
type Arch struct {
	Debian       string // Debian architecture name: "amd64"
	GOARCH       string // Go's name for it, for the guest's ksplice binary
	KernelArch   string // ARCH= for Kbuild: "x86", "arm64"
	CrossCompile string // CROSS_COMPILE= for Kbuild when the host differs
	// GNUType is the GNU triplet of Debian's native toolchain for the
	// architecture, and QEMUUser the user-mode emulator that runs that
	// toolchain on another host (see toolchain.go).
	GNUType  string
	QEMUUser string
	QEMU     string // the QEMU system emulator
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
}

var arches = map[string]*Arch{
	"amd64": {
		Debian:      "amd64",
		GOARCH:      "amd64",
		KernelArch:  "x86",
		GNUType:     "x86_64-linux-gnu",
		QEMUUser:    "qemu-x86_64",
		QEMU:        "qemu-system-x86_64",
		MachineArgs: []string{"-machine", "q35"},
		Console:     "ttyS0",
		OutputDev:   "ttyS1",
		ErrorDev:    "ttyS2",
		KVMArgs:     []string{"-cpu", "host"},
	},
	// QEMU's virt machine has a single PL011 UART, the console; the
	// command's streams go to ports of a virtio-serial device (vport0p1,
	// vport0p2), whose drivers Debian builds as modules. Virtio console
	// ports (hvc) would be ttys as well, but pass output 16 bytes at a
	// time: 1.3 MB of output took 28 s under TCG, against 1 s on these.
	"arm64": {
		Debian:       "arm64",
		GOARCH:       "arm64",
		KernelArch:   "arm64",
		CrossCompile: "aarch64-linux-gnu-",
		GNUType:      "aarch64-linux-gnu",
		QEMUUser:     "qemu-aarch64",
		QEMU:         "qemu-system-aarch64",
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
	},
}

func archByDebian(name string) (*Arch, error) {
	a, ok := arches[name]
	if !ok {
		return nil, fmt.Errorf("%w guest architecture %q (the lab boots amd64 and arm64 guests)", verdict.ErrUnsupported, name)
	}
	return a, nil
}
