package lab

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

func TestParseFile(t *testing.T) {
	for _, tc := range []struct{ in, host, guest string }{
		{"a/b/x.ko", "a/b/x.ko", "/root/x.ko"},
		{"x.ko:/lib/y.ko", "x.ko", "/lib/y.ko"},
		{"x.ko:sub/y.ko", "x.ko", "/root/sub/y.ko"},
		{"x.ko:", "x.ko", "/root/x.ko"},
	} {
		f, err := ParseFile(tc.in)
		if err != nil || f.Host != tc.host || f.Guest != tc.guest {
			t.Errorf("ParseFile(%q) = %+v, %v; want {%s %s}", tc.in, f, err, tc.host, tc.guest)
		}
	}
	if _, err := ParseFile(":/x"); err == nil {
		t.Error("ParseFile with empty host path: want an error")
	}
}

func TestConsoleMonitor(t *testing.T) {
	for _, tc := range []struct {
		name, console            string
		exit                     int
		problem, missing, noPort string
	}{
		{name: "clean", console: "[    1.0] Run /init\r\nKSPLICE-LAB-START 1.2\nKSPLICE-LAB-EXIT 3\n[ 1.5] reboot: Power down\n", exit: 3},
		{name: "interleaved marker", console: "[ 1.0] foo KSPLICE-LAB-EXIT 0\n", exit: 0},
		{name: "not found", console: "KSPLICE-LAB-NOTFOUND frob\nKSPLICE-LAB-EXIT 127\n", exit: 127, missing: "frob"},
		{name: "warning", console: "KSPLICE-LAB-START 1\n[ 2.0] WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2\n[ 2.1] Call Trace:\nKSPLICE-LAB-EXIT 0\n", exit: 0, problem: "[ 2.0] WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2"},
		{name: "oops", console: "[ 3.0] Oops: 0002 [#1] PREEMPT SMP NOPTI\n", exit: -1, problem: "[ 3.0] Oops: 0002 [#1] PREEMPT SMP NOPTI"},
		{name: "no exit", console: "[ 1.0] booting\n", exit: -1},
		{name: "no port", console: "KSPLICE-LAB-NO-PORT /dev/hvc0\n[ 9.0] reboot: Power down\n", exit: -1, noPort: "/dev/hvc0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			m := &consoleMonitor{log: &log}
			m.read(strings.NewReader(tc.console))
			if m.exit != tc.exit || m.problem != tc.problem || m.notFound != tc.missing || m.noPort != tc.noPort {
				t.Errorf("got exit=%d problem=%q notFound=%q noPort=%q; want %d %q %q %q", m.exit, m.problem, m.notFound, m.noPort, tc.exit, tc.problem, tc.missing, tc.noPort)
			}
			if strings.Contains(log.String(), "\r") {
				t.Errorf("console log keeps carriage returns")
			}
		})
	}
}

func TestInitramfs(t *testing.T) {
	dir := t.TempDir()
	// The guest's ksplice must be a static binary: busybox-static's
	// stands in for it (this test binary is static only when built with
	// CGO_ENABLED=0).
	guestBin := "/bin/busybox"
	if _, err := os.Stat(guestBin); err != nil {
		t.Fatalf("%v (make deps installs busybox-static)", err)
	}
	extra := filepath.Join(dir, "extra")
	os.WriteFile(extra, []byte("payload"), 0o600)
	a := mustGuest(t, "amd64")
	var buf bytes.Buffer
	// A file the lab makes (modules.dep) comes from memory: no temporary
	// file on the host to leave behind.
	made := File{Guest: "/lib/modules/6.1.0-55-amd64/modules.dep", data: []byte("kernel/fs/ext4/ext4.ko: \n")}
	err := writeInitramfs(&buf, a, extra, guestBin, []File{{Host: extra, Guest: "/opt/deep/extra"}, made}, []string{"echo", "a'b"}, []string{"ext4"}, "")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(buf.Bytes())))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]cpio.Record{}
	for _, r := range recs {
		byName[r.Name] = r
	}
	for _, name := range []string{"init", "bin/busybox", "bin/ksplice", "opt", "opt/deep", "opt/deep/extra", "dev/console"} {
		if _, ok := byName[name]; !ok {
			t.Errorf("initramfs lacks %s", name)
		}
	}
	r := byName["opt/deep/extra"]
	b := make([]byte, r.FileSize)
	r.ReadAt(b, 0)
	if string(b) != "payload" || r.Mode&0o777 != 0o600 {
		t.Errorf("extra file = %q mode %o", b, r.Mode&0o777)
	}
	r = byName["lib/modules/6.1.0-55-amd64/modules.dep"]
	b = make([]byte, r.FileSize)
	r.ReadAt(b, 0)
	if string(b) != string(made.data) {
		t.Errorf("made file = %q, want %q", b, made.data)
	}
	init := byName["init"]
	ib := make([]byte, init.FileSize)
	init.ReadAt(ib, 0)
	if !strings.Contains(string(ib), "for m in ext4; do") {
		t.Errorf("init does not load the requested module:\n%s", ib)
	}
	if !strings.Contains(string(ib), `set -- 'echo' 'a'\''b'`) {
		t.Errorf("init does not quote the command safely:\n%s", ib)
	}
}

// TestInitScriptPorts checks that init sends the command's streams to the
// arch's output ports, and on arm64 loads the virtio console driver and
// waits for the ports before the command and the user's modules.
func TestInitScriptPorts(t *testing.T) {
	for _, tc := range []struct {
		arch    string
		inOrder []string
	}{
		{arch: "amd64", inOrder: []string{"stty -F /dev/ttyS1 raw -echo", "stty -F /dev/ttyS2 raw -echo", "for m in ext4; do", `"$@" < /dev/null > /dev/ttyS1 2> /dev/ttyS2`}},
		{arch: "arm64", inOrder: []string{"for m in virtio_mmio virtio_console; do", "for p in /dev/vport0p1 /dev/vport0p2; do",
			"for m in ext4; do", `"$@" < /dev/null > /dev/vport0p1 2> /dev/vport0p2`}},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			s := initScript(mustGuest(t, tc.arch), []string{"true"}, []string{"ext4"}, "")
			at := 0
			for _, want := range tc.inOrder {
				i := strings.Index(s[at:], want)
				if i < 0 {
					t.Fatalf("init lacks %q after offset %d:\n%s", want, at, s)
				}
				at += i + len(want)
			}
		})
	}
}

func TestCheckStaticRefusesDynamic(t *testing.T) {
	err := checkStatic("/bin/sh", mustGuest(t, "amd64").Arch)
	if err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Fatalf("checkStatic(/bin/sh) = %v, want dynamically linked refusal", err)
	}
	if err := checkStatic("/etc/passwd", mustGuest(t, "amd64").Arch); err == nil {
		t.Fatal("checkStatic(/etc/passwd) = nil, want an error")
	}
}

func TestRelocateHeaders(t *testing.T) {
	dir := t.TempDir()
	mk := filepath.Join(dir, "Makefile")
	os.WriteFile(mk, []byte("include /usr/src/linux-headers-6.1.0-55-common/Makefile\n"), 0o644)
	if err := relocateHeaders(dir, "/cache/src"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(mk)
	if string(b) != "include /cache/src/linux-headers-6.1.0-55-common/Makefile\n" {
		t.Errorf("Makefile = %q", b)
	}
	os.WriteFile(mk, []byte("something else\n"), 0o644)
	if err := relocateHeaders(dir, "/cache/src"); err == nil {
		t.Error("unexpected Makefile layout: want an error")
	}
}

// BenchmarkInitramfs measures writing the guest's initramfs (busybox and a
// ksplice-sized binary), against copying the same bytes as a baseline.
func BenchmarkInitramfs(b *testing.B) {
	self, _ := os.Executable()
	busybox := "/bin/busybox"
	if _, err := os.Stat(busybox); err != nil {
		b.Skip("no /bin/busybox on the host (apt-get install busybox-static)")
	}
	a := mustGuest(b, "amd64")
	var size int64
	b.Run("write", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var cw countWriter
			if err := writeInitramfs(&cw, a, busybox, self, nil, []string{"true"}, nil, ""); err != nil {
				b.Skip(err)
			}
			size = cw.n
		}
		b.SetBytes(size)
	})
	b.Run("copy-baseline", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var cw countWriter
			for _, f := range []string{busybox, self} {
				buf, _ := os.ReadFile(f)
				cw.Write(buf)
			}
			size = cw.n
		}
		b.SetBytes(size)
	})
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

func TestBootStallWatch(t *testing.T) {
	m := &consoleMonitor{log: io.Discard, lastAt: time.Now().Add(-2 * bootStall)}
	if m.stalledFor() < bootStall {
		t.Errorf("silent booting guest: stalledFor = %v, want more than %v", m.stalledFor(), bootStall)
	}
	m.read(strings.NewReader("[ 1.0] booting\n"))
	if d := m.stalledFor(); d > time.Second {
		t.Errorf("after a console line: stalledFor = %v", d)
	}
	m.lastAt = time.Now().Add(-2 * bootStall)
	m.read(strings.NewReader("KSPLICE-LAB-START 1.5\n"))
	m.lastAt = time.Now().Add(-2 * bootStall)
	if d := m.stalledFor(); d != 0 {
		t.Errorf("a quiet command is not a stalled boot: stalledFor = %v", d)
	}
}

func mustGuest(t testing.TB, name string) *guest {
	t.Helper()
	a, err := archByDebian(name)
	if err != nil {
		t.Fatal(err)
	}
	g, err := guestFor(a)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestGuests checks that every guest of the table is an architecture of
// internal/arch with the names the lab needs.
func TestGuests(t *testing.T) {
	for _, name := range []string{"amd64", "arm64"} {
		g := mustGuest(t, name)
		if g.Debian != name || g.GNUType == "" || g.SrcArch == "" || g.QEMU == "" || g.QEMUPackage == "" {
			t.Errorf("guest %s = %+v", name, g)
		}
	}
	for _, name := range []string{"x86_64", "aarch64", "sparc64"} {
		if _, err := archByDebian(name); !errors.Is(err, verdict.ErrUnsupported) {
			t.Errorf("archByDebian(%q) = %v, want ErrUnsupported: it takes Debian's names only", name, err)
		}
	}
}

// TestNotBuiltin checks that modules the kernel has built in are not
// loaded: Debian's 6.12 arm64 kernels build virtio_console in.
func TestNotBuiltin(t *testing.T) {
	builtin := parseModulesBuiltin("kernel/drivers/char/virtio_console.ko\nkernel/fs/ext4/ext4.ko\nkernel/drivers/block/virtio_blk.ko\n")
	got := notBuiltin([]string{"virtio_mmio", "virtio_console", "virtio-blk", "jbd2"}, builtin)
	if want := []string{"virtio_mmio", "jbd2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("notBuiltin = %q, want %q", got, want)
	}
	if got := notBuiltin([]string{"ext4"}, nil); len(got) != 1 {
		t.Errorf("with no modules.builtin: %q", got)
	}
}

// TestDisk: the disk image is made once, an ext4 file system, and init
// mounts it before the command and unmounts it after.
func TestDisk(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := prepareDisk(context.Background(), img); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	// The ext4 superblock is at 1024, its magic 0xEF53 at +0x38.
	if len(b) != DiskSizeMB<<20 || b[1024+0x38] != 0x53 || b[1024+0x39] != 0xef {
		t.Fatalf("disk image: %d bytes, magic %x %x; want %d MiB of ext4", len(b), b[1024+0x38], b[1024+0x39], DiskSizeMB)
	}
	// An existing disk is kept as it is.
	b[4096] = 0x5a
	os.WriteFile(img, b, 0o644)
	if err := prepareDisk(context.Background(), img); err != nil {
		t.Fatal(err)
	}
	if b2, _ := os.ReadFile(img); b2[4096] != 0x5a {
		t.Error("prepareDisk rewrote an existing disk")
	}

	s := initScript(mustGuest(t, "amd64"), []string{"ksplice", "apply", "--boot"}, []string{"virtio_blk", "ext4"}, "/var/lib/ksplice")
	mount := strings.Index(s, "mount -t ext4 /dev/vda '/var/lib/ksplice'")
	cmd := strings.Index(s, `"$@"`)
	umount := strings.Index(s, "umount '/var/lib/ksplice'")
	off := strings.Index(s, "poweroff -f\n")
	if mount < 0 || cmd < 0 || umount < 0 || !(mount < cmd && cmd < umount && umount < strings.LastIndex(s, "poweroff -f\n")) || off < 0 {
		t.Errorf("init does not mount, run, unmount in order:\n%s", s)
	}
	if s := initScript(mustGuest(t, "amd64"), []string{"true"}, nil, ""); strings.Contains(s, "/dev/vda") {
		t.Errorf("init without a disk mounts one:\n%s", s)
	}
}

// TestPreSoftdepsNoModules: a guest that loads no module of the image
// needs no modules.dep, which a fresh cache does not have yet (depmod
// makes it the first time a module is wanted): the first lab runs on a
// new machine failed reading it.
func TestPreSoftdepsNoModules(t *testing.T) {
	k := &kbuild.Kernel{Modules: t.TempDir()}
	if err := os.WriteFile(filepath.Join(k.Modules, "modules.softdep"), []byte("softdep libcrc32c pre: crc32c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if pre, err := preSoftdeps(k, nil); err != nil || len(pre) != 0 {
		t.Errorf("preSoftdeps(no modules) = %v, %v; want nothing", pre, err)
	}
	// With a module wanted, modules.dep is needed (moduleFiles makes it
	// first); its absence is an error, not a silent "no dependencies".
	if _, err := preSoftdeps(k, []string{"libcrc32c"}); err == nil {
		t.Error("preSoftdeps(libcrc32c) without modules.dep: no error")
	}
}
