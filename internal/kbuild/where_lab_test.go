package kbuild_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/labtest"
)

// TestWhere asks the Debian kernel's Kbuild files where objects go.
func TestWhere(t *testing.T) {
	k := labtest.Kernel(t)
	// The build tree is shared: hold the kernel's lock, as create
	// does, while make reads it.
	unlock, err := k.Lock(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	r := kbuild.NewResolver(kbuild.Tree{Source: k.Source, Build: k.Build, MakeVars: k.MakeVars}, "x86")
	defer r.Close()
	for obj, want := range map[string]string{
		"fs/proc/cmdline.o":                  "",        // composite proc.o, built in
		"kernel/sys.o":                       "",        // obj-y
		"lib/string.o":                       "",        // lib-y
		"fs/ext4/mballoc.o":                  "ext4",    // composite ext4.o, a module
		"drivers/net/ethernet/sun/cassini.o": "cassini", // obj-m, two directories down
		"drivers/char/tpm/eventlog/tpm2.o":   "",        // part of tpm.o, listed with its subdirectory
		"arch/x86/kernel/head_64.o":          "",        // $(BITS) in the Makefile
		"arch/x86/pci/fixup.o":               "",        // drivers-$(CONFIG_PCI) of arch/x86/Makefile
		"drivers/char/tpm/tpm_tis_i2c.o":     "!",       // CONFIG_TCG_TIS_I2C is not set
		"arch/arm64/kernel/setup.o":          "!",       // another architecture
		"arch/powerpc/boot/main.o":           "!",       // its Makefile does not read with x86's variables
		"fs/proc/nonexistent.o":              "!",
		// The Makefile includes $(srctree)/$(src)/../display/Makefile.
		"drivers/gpu/drm/amd/amdgpu/amdgpu_debugfs.o": "amdgpu",
		// The display directory's Makefiles do not read on their own:
		// amdgpu's Makefile includes them, and lists their objects
		// as ../display/dc/core/dc.o.
		"drivers/gpu/drm/amd/display/dc/core/dc.o":          "amdgpu",
		"drivers/gpu/drm/amd/display/amdgpu_dm/amdgpu_dm.o": "amdgpu",
		// Left in the tree, listed by no Makefile, while amdgpu's
		// lists the other objects of its directory.
		"drivers/gpu/drm/amd/display/dc/dce/dce_clk_mgr.o": "!",
		// common/Makefile is included by habanalabs/'s, into which
		// Kbuild does not descend: CONFIG_HABANA_AI is not set.
		"drivers/misc/habanalabs/common/asid.o": "!",
		// A user-space test's Makefile, which lib/raid6/'s does not
		// name.
		"lib/raid6/test/test.o":                             "!",
		"drivers/gpu/drm/amd/display/dc/core/nonexistent.o": "!",
	} {
		got, err := r.Where(context.Background(), obj)
		if want == "!" {
			if !errors.Is(err, kbuild.ErrNotConfigured) {
				t.Errorf("Where(%s) = %q, %v; want ErrNotConfigured", obj, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("Where(%s) = %q, %v; want %q", obj, got, err, want)
		}
	}
}

// TestWhereARM64Fragments asks an arm64 kernel's Kbuild files about objects
// of Makefile fragments that its configuration leaves out: amdgpu's
// display/dc/dsc/ is included only with CONFIG_DRM_AMD_DC_DCN (x86 and
// ppc64), while amdgpu's Makefile lists other objects of display/.
func TestWhereARM64Fragments(t *testing.T) {
	k := labtest.Kernel(t)
	// The build tree is shared: hold the kernel's lock, as create
	// does, while make reads it.
	unlock, err := k.Lock(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if k.Arch != "arm64" {
		t.Skipf("%s is not an arm64 kernel", k.Spec)
	}
	r := kbuild.NewResolver(kbuild.Tree{Source: k.Source, Build: k.Build, MakeVars: k.MakeVars}, "arm64")
	defer r.Close()
	for obj, want := range map[string]string{
		"drivers/gpu/drm/amd/display/dc/dsc/dc_dsc.o":       "!",
		"drivers/gpu/drm/amd/display/dc/core/dc.o":          "amdgpu",
		"drivers/gpu/drm/amd/display/amdgpu_dm/amdgpu_dm.o": "amdgpu",
		"drivers/gpu/drm/amd/display/dc/dsc/nonexistent.o":  "!",
		"kernel/sys.o": "",
	} {
		got, err := r.Where(context.Background(), obj)
		if want == "!" {
			if !errors.Is(err, kbuild.ErrNotConfigured) {
				t.Errorf("Where(%s) = %q, %v; want ErrNotConfigured", obj, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("Where(%s) = %q, %v; want %q", obj, got, err, want)
		}
	}
}

// TestPlaceFragmentGoal: an object of a Makefile fragment (amdgpu's
// display/, included by amdgpu/'s Makefile with its -I flags) is built
// through the including directory; as its own path, Kbuild reads the
// fragment's directory alone and the compiler finds none of its headers.
func TestPlaceFragmentGoal(t *testing.T) {
	k := labtest.Kernel(t)
	// The build tree is shared: hold the kernel's lock, as create
	// does, while make reads it (and preprocesses in it, below).
	unlock, err := k.Lock(func() { t.Log("waiting for another ksplice using the kernel") })
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if k.Arch != "amd64" {
		t.Skipf("%s: the goals asked about are amd64's", k.Spec)
	}
	tree := kbuild.Tree{Source: k.Source, Build: k.Build, MakeVars: k.MakeVars}
	r := kbuild.NewResolver(tree, "x86")
	defer r.Close()
	const frag = "drivers/gpu/drm/amd/display/amdgpu_dm/amdgpu_dm_color.o"
	for obj, want := range map[string]string{
		frag:                               "drivers/gpu/drm/amd/amdgpu/../display/amdgpu_dm/amdgpu_dm_color.o",
		"drivers/char/tpm/eventlog/tpm2.o": "drivers/char/tpm/eventlog/tpm2.o", // listed by the directory above
		"fs/proc/cmdline.o":                "fs/proc/cmdline.o",
	} {
		p, err := r.Place(context.Background(), obj)
		if err != nil || p.Goal != want {
			t.Errorf("Place(%s) = %+v, %v; want goal %s", obj, p, err, want)
		}
	}
	p, err := r.Place(context.Background(), frag)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := tree.Preprocess(context.Background(), []string{frag}, ""); err == nil || out[frag] != "" {
		os.Remove(out[frag])
		t.Errorf("%s preprocessed as its own path: %v", frag, out)
	} else if !strings.Contains(err.Error(), "No such file") {
		t.Errorf("%s as its own path: %v; want the compiler's missing header", frag, err)
	}
	tree.Goals = map[string]string{frag: p.Goal}
	out, err := tree.Preprocess(context.Background(), []string{frag}, "")
	if err != nil || out[frag] == "" {
		t.Fatalf("%s through %s: %v, %v", frag, p.Goal, out, err)
	}
	defer os.Remove(out[frag])
	if b, err := os.ReadFile(out[frag]); err != nil || !strings.Contains(string(b), "amdgpu_dm_color") {
		t.Errorf("%s: %d bytes, %v; want the preprocessed unit", out[frag], len(b), err)
	}
}
