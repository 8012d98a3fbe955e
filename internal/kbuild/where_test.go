package kbuild

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestWhereArchMakefileDirs: the top-level Makefile descends into the
// directories an architecture's Makefile lists in core-y, drivers-y and
// libs-y (arch/x86/pci/ under CONFIG_PCI), which its Kbuild file does not
// name; their objects are built in when the option is set, and not built
// when it is not.
func TestWhereArchMakefileDirs(t *testing.T) {
	src, build := t.TempDir(), t.TempDir()
	files := map[string]string{
		filepath.Join(src, "arch/x86/Kbuild"):          "obj-y += kernel/\n",
		filepath.Join(src, "arch/x86/kernel/Makefile"): "obj-y += setup.o\n",
		filepath.Join(src, "arch/x86/Makefile"): "KBUILD_CFLAGS += -O2\n" +
			"libs-y  += arch/x86/lib/\n" +
			"drivers-$(CONFIG_PCI)            += arch/x86/pci/\n" +
			"drivers-$(CONFIG_MATH_EMULATION) += arch/x86/math-emu/\n",
		filepath.Join(src, "arch/x86/pci/Makefile"):      "obj-y += fixup.o\nobj-$(CONFIG_PCI_XEN) += xen.o\n",
		filepath.Join(src, "arch/x86/lib/Makefile"):      "lib-y += string.o\n",
		filepath.Join(src, "arch/x86/math-emu/Makefile"): "obj-y += fpu_entry.o\n",
		filepath.Join(src, "arch/x86/other/Makefile"):    "obj-y += lost.o\n",
		filepath.Join(build, "include/config/auto.conf"): "CONFIG_PCI=y\n",
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := NewResolver(Tree{Source: src, Build: build}, "x86")
	defer r.Close()
	for obj, built := range map[string]bool{
		"arch/x86/kernel/setup.o":       true,
		"arch/x86/pci/fixup.o":          true,  // drivers-$(CONFIG_PCI), set
		"arch/x86/lib/string.o":         true,  // libs-y
		"arch/x86/pci/xen.o":            false, // its own option is not set
		"arch/x86/math-emu/fpu_entry.o": false, // drivers-$(CONFIG_MATH_EMULATION), not set
		"arch/x86/other/lost.o":         false, // listed nowhere
	} {
		mod, err := r.Where(context.Background(), obj)
		switch {
		case built && (err != nil || mod != ""):
			t.Errorf("Where(%s) = %q, %v; want built in", obj, mod, err)
		case !built && !errors.Is(err, ErrNotConfigured):
			t.Errorf("Where(%s) = %q, %v; want ErrNotConfigured", obj, mod, err)
		}
	}
}
