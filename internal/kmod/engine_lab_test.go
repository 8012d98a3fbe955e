package kmod

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/lab"
)

// The engine's lab tests: each script of testdata/kmod-tests runs in one
// boot of the lab kernel with the modules it names, and must print PASS
// with a clean console. They run with KSPLICE_LAB=1 (make test);
// KSPLICE_LAB_KERNEL picks the kernel, KSPLICE_BIN the static ksplice
// binary for the guest (built here when unset).

const defaultLabKernel = "debian:6.1.0-55-amd64"

var guestBinary string // static ksplice binary for the guest

func TestMain(m *testing.M) {
	code := func() int {
		if os.Getenv("KSPLICE_LAB") != "1" {
			return m.Run()
		}
		guestBinary = os.Getenv("KSPLICE_BIN")
		if guestBinary == "" {
			dir, err := os.MkdirTemp("", "ksplice-kmod-test-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			guestBinary = filepath.Join(dir, "ksplice")
			cmd := exec.Command("go", "build", "-o", guestBinary, "github.com/ksplice-go/ksplice/cmd/ksplice")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build the guest binary: %v\n%s", err, out)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// repoRoot is the repository's top directory, from this package's.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(wd, "..", "..")
}

// moduleDirs are built in this order, each against the engine's symbols.
// The updates' sources were written by patchgen (gen.go in
// testdata/kmod-update-cmdline, run by the regen scripts) and, as create's,
// include the engine's ksplice.h from include/.
var moduleDirs = []struct {
	dir, module string
	update      bool
}{
	{"kmod-src", "ksplice", false},
	{"testdata/kmod-update-cmdline/v1", "ksplice_cmdline_v1_vmlinux", true},
	{"testdata/kmod-update-cmdline/v2", "ksplice_cmdline_v2_vmlinux", true},
	{"testdata/kmod-update-cmdline/bad", "ksplice_cmdline_bad_vmlinux", true},
	{"testdata/kmod-tests/busy", "ksplice_test_busy", false},
	{"testdata/kmod-tests/busy-update", "ksplice_busy_v2_ksplice_test_busy", true},
	{"testdata/kmod-tests/seqread-update", "ksplice_seqread_same_vmlinux", true},
}

// buildModules copies the module sources into a scratch tree (so the
// repository stays clean, and checkpatch sees no generated files) and
// builds them against the kernel's headers. It returns module -> .ko path.
func buildModules(t *testing.T, ctx context.Context, k *kbuild.Kernel) map[string]string {
	t.Helper()
	root := repoRoot(t)
	scratch := t.TempDir()
	kos := map[string]string{}
	symvers := filepath.Join(scratch, "kmod-src", "Module.symvers")
	for _, m := range moduleDirs {
		src := filepath.Join(root, m.dir)
		dst := filepath.Join(scratch, m.dir)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.CommandContext(ctx, "cp", "-a", src, dst).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v\n%s", m.dir, err, out)
		}
		if m.update {
			h, err := os.ReadFile(filepath.Join(root, "kmod-src", "ksplice.h"))
			if err == nil {
				err = os.MkdirAll(filepath.Join(dst, "include"), 0o755)
			}
			if err == nil {
				err = os.WriteFile(filepath.Join(dst, "include", "ksplice.h"), h, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		args := []string{"-s", "-C", k.Headers, "M=" + dst, "-j2"}
		if m.dir != "kmod-src" {
			args = append(args, "KBUILD_EXTRA_SYMBOLS="+symvers)
		}
		args = append(args, "modules")
		cmd := exec.CommandContext(ctx, "make", args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if out, err := cmd.Output(); err != nil {
			t.Fatalf("build %s: %v\n%s%s", m.dir, err, out, stderr.String())
		}
		kos[m.module] = filepath.Join(dst, m.module+".ko")
	}
	return kos
}

func labKernel(t *testing.T, ctx context.Context) *kbuild.Kernel {
	t.Helper()
	if os.Getenv("KSPLICE_LAB") != "1" {
		t.Skip("lab test: set KSPLICE_LAB=1")
	}
	if runtime.GOOS != "linux" {
		t.Skip("lab test: needs linux")
	}
	name := os.Getenv("KSPLICE_LAB_KERNEL")
	if name == "" {
		name = defaultLabKernel
	}
	spec, err := lab.ParseSpec(name)
	if err != nil {
		t.Fatal(err)
	}
	if spec.Arch.Debian != "amd64" {
		t.Skipf("the engine supports x86-64 only, not %s", spec.Arch.Debian)
	}
	k, err := lab.Fetch(ctx, spec, lab.FetchOptions{})
	if err != nil {
		t.Fatalf("fetch %s: %v", name, err)
	}
	return k
}

var (
	stopMachineNS = regexp.MustCompile(`stop_machine (\d+) ns, callback (\d+) ns`)
	emptyNS       = regexp.MustCompile(`empty stop_machine round (\d+) ns`)
)

func TestEngineLab(t *testing.T) {
	ctx := context.Background()
	k := labKernel(t, ctx)
	kos := buildModules(t, ctx, k)
	scripts := filepath.Join(repoRoot(t), "testdata", "kmod-tests")

	tests := []struct {
		script  string
		modules []string
		want    []string // lines the transcript must contain, in order
	}{
		{
			script:  "apply-undo.sh",
			modules: []string{"ksplice", "ksplice_cmdline_v1_vmlinux"},
			want: []string{
				"ok: apply cmdline-v1",
				"ok: /proc/cmdline: ksplice-v1: console=",
				"ok: rmmod of the applied update refused",
				"ok: /proc/cmdline restored",
				"ok: empty stop_machine round",
			},
		},
		{
			script:  "mismatch.sh",
			modules: []string{"ksplice", "ksplice_cmdline_bad_vmlinux"},
			want: []string{
				"ok: apply cmdline-bad refused: function cmdline_proc_show: byte +0xe differs (candidate 1 of 1): expected 8b fb e8 00, found 89 fb e8",
				"ok: /proc/cmdline unchanged",
			},
		},
		{
			script:  "stacking.sh",
			modules: []string{"ksplice", "ksplice_cmdline_v1_vmlinux", "ksplice_cmdline_v2_vmlinux"},
			want: []string{
				"ok: v2 does not match the original code",
				"ok: v2 on top of v1",
				"ok: reverse cmdline-v1 refused: update cmdline-v2, applied later, changes a function of this one: reverse it first",
				"ok: back to v1",
				"ok: /proc/cmdline restored",
			},
		},
		{
			script:  "ftrace.sh",
			modules: []string{"ksplice", "ksplice_cmdline_v1_vmlinux"},
			want:    []string{"ok: function tracer saw it", "ok: traced after apply"},
		},
		{
			script:  "busy.sh",
			modules: []string{"ksplice", "ksplice_test_busy", "ksplice_busy_v2_ksplice_test_busy"},
			want: []string{
				"ok: apply busy-v2 refused: target module ksplice_test_busy is not loaded",
				"(ksplice_busy) is inside ksplice_busy_park+0x",
				"ok: retried",
				"ok: result of the new code",
				"ok: result after reverse",
			},
		},
		{
			script:  "seqread.sh",
			modules: []string{"ksplice", "ksplice_seqread_same_vmlinux"},
			want:    []string{"ok: apply seqread-same", "ok: /proc reads through the copy of seq_read_iter"},
		},
		{
			script:  "load.sh",
			modules: []string{"ksplice", "ksplice_cmdline_v1_vmlinux"},
			want:    []string{"ok: 50 apply/reverse cycles under load"},
		},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.script, ".sh"), func(t *testing.T) {
			files := []lab.File{
				{Host: filepath.Join(scripts, "lib.sh"), Guest: "/root/lib.sh"},
				{Host: filepath.Join(scripts, tt.script), Guest: "/root/" + tt.script},
			}
			for _, m := range tt.modules {
				files = append(files, lab.File{Host: kos[m], Guest: "/root/" + m + ".ko"})
			}
			var stdout, stderr, console bytes.Buffer
			res, err := lab.Run(ctx, lab.RunOptions{
				Kernel: k,
				// One host thread unless asked: see lab.RunOptions.MultiThreadTCG.
				MultiThreadTCG: os.Getenv("KSPLICE_LAB_MTTCG") == "1",
				Command:        []string{"sh", "/root/" + tt.script},
				Files:          files,
				GuestBinary:    guestBinary,
				Timeout:        5 * time.Minute,
				Stdout:         &stdout,
				Stderr:         &stderr,
				Console:        &console,
			})
			out := stdout.String()
			if err != nil {
				t.Fatalf("lab run: %v\noutput:\n%s\nconsole:\n%s", err, out, console.String())
			}
			if res.ExitCode != 0 || !strings.Contains(out, "\nPASS\n") {
				t.Fatalf("%s: exit %d\noutput:\n%s%s", tt.script, res.ExitCode, out, stderr.String())
			}
			rest := out
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Errorf("output lacks %q (in order)\noutput:\n%s", w, out)
					break
				}
				rest = rest[i+len(w):]
			}
			for _, m := range stopMachineNS.FindAllStringSubmatch(out, -1) {
				t.Logf("stop_machine %s ns (callback %s ns)", m[1], m[2])
			}
			for _, m := range emptyNS.FindAllStringSubmatch(out, -1) {
				t.Logf("empty stop_machine %s ns", m[1])
			}
		})
	}
}
