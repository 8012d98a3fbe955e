package lab

import (
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/ksplice-go/ksplice/internal/arch"
)

// File is a host file to place in the guest.
type File struct {
	Host  string // path on the host
	Guest string // absolute path in the guest

	// data is the content of a file the lab makes itself (Host is
	// empty): the guest's modules.dep.
	data []byte
}

// ParseFile parses HOST[:GUEST]. Without GUEST the file lands in the
// guest's working directory, /root, under its base name.
func ParseFile(s string) (File, error) {
	host, guest, ok := strings.Cut(s, ":")
	if host == "" {
		return File{}, fmt.Errorf("--file %q: empty host path", s)
	}
	if !ok || guest == "" {
		guest = path.Join(guestWorkDir, path.Base(host))
	} else if !path.IsAbs(guest) {
		guest = path.Join(guestWorkDir, guest)
	}
	return File{Host: host, Guest: path.Clean(guest)}, nil
}

const (
	guestWorkDir = "/root"
	// Markers the guest's init writes to the console; the host reads them
	// to follow the run. They are spelt so that no kernel message could be
	// mistaken for one.
	markerStart    = "KSPLICE-LAB-START"
	markerExit     = "KSPLICE-LAB-EXIT"
	markerNotFound = "KSPLICE-LAB-NOTFOUND"
	markerModule   = "KSPLICE-LAB-MODPROBE-FAILED"
	markerNoPort   = "KSPLICE-LAB-NO-PORT"
	markerNoDisk   = "KSPLICE-LAB-NO-DISK"
)

// guestDisk is the device of the lab's persistent disk (RunOptions.Disk),
// the only virtio block device the guest has.
const guestDisk = "/dev/vda"

// initScript is the guest's /init. The command's stdout and stderr go to
// ports of their own (serial, or virtio serial after loading the arch's
// OutputModules), so that they reach the host's stdout and stderr
// unmixed with kernel messages; its exit status is reported on the console.
// With diskMount set, the persistent disk is mounted there before the
// command runs (its modules are among modules) and unmounted after it, so
// that what the command wrote is on the disk when the guest powers off.
func initScript(g *guest, argv, modules []string, diskMount string) string {
	quoted := make([]string, len(argv))
	for i, s := range argv {
		quoted[i] = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return fmt.Sprintf(`#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=%[1]s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
echo 0 > /proc/sys/kernel/kptr_restrict
%[10]scd %[1]s
for m in %[8]s; do
	modprobe "$m" || echo "%[9]s $m" > /dev/console
done
%[11]sset -- %[4]s
if ! command -v "$1" >/dev/null 2>&1; then
	echo "%[5]s $1" > /dev/console
	echo "%[6]s 127" > /dev/console
else
	echo "%[7]s $(cut -d' ' -f1 /proc/uptime)" > /dev/console
	"$@" < /dev/null > /dev/%[2]s 2> /dev/%[3]s
	echo "%[6]s $?" > /dev/console
fi
sync
%[12]spoweroff -f
`, guestWorkDir, g.OutputDev, g.ErrorDev, strings.Join(quoted, " "), markerNotFound, markerExit, markerStart,
		strings.Join(modules, " "), markerModule, portSetup(g), diskSetup(diskMount), diskTeardown(diskMount))
}

// diskSetup is the part of init that mounts the persistent disk at mount
// ("" for none), once its device has appeared.
func diskSetup(mount string) string {
	if mount == "" {
		return ""
	}
	return fmt.Sprintf(`n=0
while [ ! -e %[1]s ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
mkdir -p %[2]s
mount -t ext4 %[1]s %[2]s || { echo "%[3]s %[1]s %[2]s" > /dev/console; poweroff -f; }
`, guestDisk, shellQuote(mount), markerNoDisk)
}

func diskTeardown(mount string) string {
	if mount == "" {
		return ""
	}
	return fmt.Sprintf("cd /\numount %s\n", shellQuote(mount))
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// portSetup is the part of init that readies the command's output ports.
// Serial ports are there from boot and are set raw, so that no "\r" is
// added to the command's output. Virtio serial ports, not ttys, pass bytes
// unchanged; they appear once their drivers are loaded and the device has
// announced its ports.
func portSetup(g *guest) string {
	var b strings.Builder
	if g.OutputPort == "" {
		for _, dev := range []string{g.OutputDev, g.ErrorDev} {
			fmt.Fprintf(&b, "stty -F /dev/%s raw -echo\n", dev)
		}
		return b.String()
	}
	fmt.Fprintf(&b, `for m in %[1]s; do
	modprobe "$m" || echo "%[2]s $m" > /dev/console
done
for p in /dev/%[3]s /dev/%[4]s; do
	n=0
	while [ ! -e $p ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n+1)); done
	[ -e $p ] || { echo "%[5]s $p" > /dev/console; poweroff -f; }
done
`, strings.Join(g.OutputModules, " "), markerModule, g.OutputDev, g.ErrorDev, markerNoPort)
	return b.String()
}

// writeInitramfs writes an uncompressed newc archive: uncompressed because
// the guest unpacks it faster than it could decompress it under emulation.
func writeInitramfs(w io.Writer, g *guest, busybox, ksplice string, files []File, argv, modules []string, diskMount string) error {
	if err := checkStatic(ksplice, g.Arch); err != nil {
		return err
	}
	recs := []cpio.Record{
		cpio.Directory("bin", 0o755),
		cpio.Directory("dev", 0o755),
		cpio.Directory("proc", 0o755),
		cpio.Directory("sys", 0o755),
		cpio.Directory("tmp", 0o1777),
		cpio.Directory("root", 0o700),
		cpio.Directory("sbin", 0o755),
		cpio.Directory("usr", 0o755),
		cpio.Directory("usr/bin", 0o755),
		cpio.Directory("usr/sbin", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.StaticFile("init", initScript(g, argv, modules, diskMount), 0o755),
	}
	add := func(host, guest string) error {
		b, err := os.ReadFile(host)
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		fi, err := os.Stat(host)
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		recs = append(recs, cpio.StaticRecord(b, cpio.Info{
			Mode: cpio.S_IFREG | uint64(fi.Mode().Perm()),
			Name: strings.TrimPrefix(guest, "/"),
		}))
		return nil
	}
	made := func(f File) {
		recs = append(recs, cpio.StaticFile(strings.TrimPrefix(f.Guest, "/"), string(f.data), 0o644))
	}
	if err := add(busybox, "/bin/busybox"); err != nil {
		return err
	}
	if err := add(ksplice, "/bin/ksplice"); err != nil {
		return err
	}
	for _, f := range files {
		if f.Host == "" && f.data != nil {
			made(f)
			continue
		}
		if err := add(f.Host, f.Guest); err != nil {
			return err
		}
	}
	rw := cpio.NewDedupWriter(cpio.Newc.Writer(w))
	if err := cpio.WriteRecordsAndDirs(rw, recs); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if err := cpio.WriteTrailer(rw); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}

// checkStatic makes sure the ksplice binary will run in the guest: built for
// its architecture and statically linked (busybox is all the guest has).
func checkStatic(bin string, a *arch.Arch) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("guest ksplice binary: %w", err)
	}
	defer f.Close()
	if f.Machine != a.Machine {
		return fmt.Errorf("guest ksplice binary %s is for %v, the guest is %s (make build makes bin/ksplice-linux-%s)", bin, f.Machine, a.GOARCH, a.GOARCH)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("guest ksplice binary %s is dynamically linked; build it with CGO_ENABLED=0 (make build)", bin)
		}
	}
	return nil
}
