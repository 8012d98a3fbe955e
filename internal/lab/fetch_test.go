package lab

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/kbuild"
)

// TestFetchStages checks the directories a fetch makes, in order, with
// either compiler, and for booting only.
func TestFetchStages(t *testing.T) {
	for _, tc := range []struct {
		native, bootOnly bool
		want             string
	}{
		{false, false, "debs source-deb image headers busybox source build"},
		{true, false, "debs source-deb image headers busybox source toolchain-debs toolchain build-native"},
		{false, true, "debs image headers busybox"},
		{true, true, "debs image headers busybox"},
	} {
		var dirs []string
		for _, s := range fetchStages {
			if s.what != nil && s.applies(tc.native, tc.bootOnly) {
				dirs = append(dirs, s.name)
			}
		}
		if got := strings.Join(dirs, " "); got != tc.want {
			t.Errorf("native=%v bootOnly=%v: stages %q, want %q", tc.native, tc.bootOnly, got, tc.want)
		}
	}
}

// TestLoadKernel checks that a kernel.json is used only when every stage of
// the kernel is complete, and that a kernel prepared for booting only is
// not taken for one prepared for building.
func TestLoadKernel(t *testing.T) {
	for _, tc := range []struct{ native, bootOnly bool }{{false, false}, {true, false}, {false, true}} {
		dir := t.TempDir()
		k := kbuild.Kernel{Format: kbuild.KernelFormat, Spec: "debian:6.1.0-55-arm64", Dir: dir, Tree: kbuild.Tree{Build: filepath.Join(dir, "build")}}
		last := "build"
		switch {
		case tc.bootOnly:
			k.Tree, k.BootOnly, last = kbuild.Tree{}, true, "busybox"
		case tc.native:
			k.Toolchain, k.Build, last = filepath.Join(dir, "toolchain"), filepath.Join(dir, "build-native"), "build-native"
		}
		b, _ := json.Marshal(k)
		os.WriteFile(filepath.Join(dir, kernelJSON), b, 0o644)
		for _, s := range fetchStages {
			if s.what == nil || !s.applies(tc.native, tc.bootOnly) {
				continue
			}
			if _, err := loadKernel(dir, tc.bootOnly); err == nil {
				t.Fatalf("%+v: loaded with stage %s not made", tc, s.name)
			}
			if err := kbuild.Stage(filepath.Join(dir, s.name), func(string) error { return nil }); err != nil {
				t.Fatal(err)
			}
		}
		got, err := loadKernel(dir, tc.bootOnly)
		if err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if !reflect.DeepEqual(*got, k) || !kbuild.Complete(filepath.Join(dir, last)) {
			t.Errorf("%+v: loaded %+v, want %+v", tc, got, k)
		}
		// A prepared kernel serves a boot-only fetch; a boot-only one
		// does not serve a fetch for building.
		if _, err := loadKernel(dir, true); err != nil {
			t.Errorf("%+v: boot-only load: %v", tc, err)
		}
		if _, err := loadKernel(dir, false); (err == nil) == tc.bootOnly {
			t.Errorf("%+v: load for building: err = %v", tc, err)
		}
		// A prepared kernel with a source stage missing (a cache made
		// before source-deb existed) still serves a boot-only fetch.
		if !tc.bootOnly {
			os.Remove(filepath.Join(dir, "source-deb", ".ksplice-complete"))
			if _, err := loadKernel(dir, false); err == nil {
				t.Errorf("%+v: loaded for building without source-deb", tc)
			}
			if _, err := loadKernel(dir, true); err != nil {
				t.Errorf("%+v: boot-only load without source-deb: %v", tc, err)
			}
		}
	}
}
