package kbuild

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"testing"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/run"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// TestKernelJSON checks that kernel.json and `lab fetch --json` keep their
// keys, Tree's fields among them, and that Jobs stays out.
func TestKernelJSON(t *testing.T) {
	k := Kernel{Format: KernelFormat, Tree: Tree{Source: "/s", Build: "/b", MakeVars: []string{"CC=gcc-12"}, Jobs: 4}, Toolchain: "/t"}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	want := []string{"arch", "build", "busybox", "compiler", "config", "dir", "format", "headers", "host_compiler",
		"image", "make_vars", "modules", "packages", "release", "source", "spec", "toolchain", "version"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("keys %q\nwant %q", keys, want)
	}
	var back Kernel
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	k.Jobs = 0
	if !reflect.DeepEqual(back, k) {
		t.Errorf("round trip: %+v, want %+v", back, k)
	}
}

func TestMakeVars(t *testing.T) {
	for _, name := range []string{"amd64", "arm64"} {
		a, err := arch.ByName(name)
		if err != nil {
			t.Fatal(err)
		}
		got := MakeVars("gcc-12", "6.1.0-55-"+name, a)
		want := []string{"CC=gcc-12", "KERNELRELEASE=6.1.0-55-" + name}
		if a.GOARCH != runtime.GOARCH {
			want = append(want, "ARCH="+a.SrcArch, "CROSS_COMPILE="+a.GNUType+"-")
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: MakeVars = %q, want %q", name, got, want)
		}
	}
}

func TestArchOfConfig(t *testing.T) {
	for cfg, want := range map[string]string{
		"CONFIG_64BIT=y\nCONFIG_X86_64=y\n": "amd64",
		"CONFIG_ARM64=y\n":                  "arm64",
		"# CONFIG_ARM64 is not set\n":       "",
	} {
		a, err := archOfConfig([]byte(cfg))
		switch {
		case want == "" && !errors.Is(err, verdict.ErrUnsupported):
			t.Errorf("%q: err = %v, want ErrUnsupported", cfg, err)
		case want != "" && (err != nil || a.Debian != want):
			t.Errorf("%q: %v, %v; want %s", cfg, a, err, want)
		}
	}
}

func TestConfigCompilerText(t *testing.T) {
	config := filepath.Join(t.TempDir(), "config")
	os.WriteFile(config, []byte("CONFIG_CC_VERSION_TEXT=\"gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0\"\nCONFIG_CC_IS_GCC=y\n"), 0o644)
	got, err := ConfigCompilerText(config)
	if err != nil || got != "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0" {
		t.Errorf("ConfigCompilerText = %q, %v", got, err)
	}
	os.WriteFile(config, []byte("CONFIG_CC_IS_GCC=y\n"), 0o644)
	if _, err := ConfigCompilerText(config); err == nil {
		t.Error("a config without CONFIG_CC_VERSION_TEXT: want an error")
	}
}

// TestBuildErrorWrapsRunError checks that a failed build says what the
// compiler said and carries make's *run.Error.
func TestBuildErrorWrapsRunError(t *testing.T) {
	if _, err := run.LookTool("make", "make"); err != nil {
		t.Fatal(err) // make deps installs it
	}
	dir := t.TempDir()
	_, err := Tree{Source: dir, Build: dir}.BuildObjects(context.Background(), []string{"x.o"}, nil)
	var be *BuildError
	var re *run.Error
	if !errors.As(err, &be) || !errors.As(err, &re) {
		t.Fatalf("err = %#v, want a *BuildError wrapping a *run.Error", err)
	}
	if re.Cmd == "" || be.Output == "" {
		t.Errorf("BuildError %+v, run.Error %+v", be, re)
	}
}
