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
// either compiler.
func TestFetchStages(t *testing.T) {
	for _, tc := range []struct {
		native bool
		want   string
	}{
		{false, "debs image headers busybox source build"},
		{true, "debs image headers busybox source toolchain-debs toolchain build-native"},
	} {
		var dirs []string
		for _, s := range fetchStages {
			if s.what != nil && s.applies(tc.native) {
				dirs = append(dirs, s.name)
			}
		}
		if got := strings.Join(dirs, " "); got != tc.want {
			t.Errorf("native=%v: stages %q, want %q", tc.native, got, tc.want)
		}
	}
}

// TestLoadKernel checks that a kernel.json is used only when every stage of
// the kernel is complete.
func TestLoadKernel(t *testing.T) {
	for _, native := range []bool{false, true} {
		dir := t.TempDir()
		k := kbuild.Kernel{Format: kbuild.KernelFormat, Spec: "debian:6.1.0-55-arm64", Dir: dir, Tree: kbuild.Tree{Build: filepath.Join(dir, "build")}}
		if native {
			k.Toolchain, k.Build = filepath.Join(dir, "toolchain"), filepath.Join(dir, "build-native")
		}
		b, _ := json.Marshal(k)
		os.WriteFile(filepath.Join(dir, kernelJSON), b, 0o644)
		var last string
		for _, s := range fetchStages {
			if s.what == nil || !s.applies(native) {
				continue
			}
			if _, err := loadKernel(dir); err == nil {
				t.Fatalf("native=%v: loaded with stage %s not made", native, s.name)
			}
			if err := kbuild.Stage(filepath.Join(dir, s.name), func(string) error { return nil }); err != nil {
				t.Fatal(err)
			}
			last = s.name
		}
		got, err := loadKernel(dir)
		if err != nil {
			t.Fatalf("native=%v: %v", native, err)
		}
		if !reflect.DeepEqual(*got, k) || filepath.Base(got.Build) != last {
			t.Errorf("native=%v: loaded %+v, want %+v", native, got, k)
		}
	}
}
