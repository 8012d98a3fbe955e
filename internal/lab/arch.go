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
	QEMU         string // the QEMU system emulator
	// MachineArgs select the machine and CPU model.
	MachineArgs []string
	// Console is the guest's kernel console device; the command's own
	// stdout and stderr travel on OutputDev and ErrorDev, ports of their own,
	// so that they never mix with kernel messages.
	Console   string
	OutputDev string
	ErrorDev  string
	// KVMArgs are added when KVM is used.
	KVMArgs []string
}

var arches = map[string]*Arch{
	"amd64": {
		Debian:      "amd64",
		GOARCH:      "amd64",
		KernelArch:  "x86",
		QEMU:        "qemu-system-x86_64",
		MachineArgs: []string{"-machine", "q35"},
		Console:     "ttyS0",
		OutputDev:   "ttyS1",
		ErrorDev:    "ttyS2",
		KVMArgs:     []string{"-cpu", "host"},
	},
}

func archByDebian(name string) (*Arch, error) {
	a, ok := arches[name]
	if !ok {
		return nil, fmt.Errorf("%w guest architecture %q (the lab boots amd64 guests)", verdict.ErrUnsupported, name)
	}
	return a, nil
}
