package apply_test

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/sign"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
	"github.com/ksplice-go/ksplice/internal/update"
)

// observable are the sample patches whose effect a shell in the guest can
// see: read is a command, want what it prints only while the update is
// applied.
var observable = []struct {
	patch, read, want string
	modules           []string // image modules to load first (the target)
	// hooks is the author's hook file (testdata/patches/PATCH.hooks.c)
	// and allowData the changed data it sets (create --hooks,
	// --allow-data).
	hooks     bool
	allowData []string
}{
	{patch: "proc-cmdline-string", read: "cat /proc/cmdline", want: " ksplice=patched"},
	{patch: "proc-version-string", read: "cat /proc/version", want: "ksplice: live-patched"},
	{patch: "power-state-show-dup", read: "cat /sys/power/state", want: "disk ksplice"},
	{patch: "proc-loadavg-new-helper", read: "cut -d' ' -f6- /proc/loadavg", want: "ksplice"},
	{patch: "memory-state-show-warn", read: "cat /sys/devices/system/memory/memory*/state | sort -u", want: "online-ksplice"},
	// Nothing to see from user space: the update names its target.
	{patch: "ext4-mballoc-6.1.192-2", read: "ksplice list --json", want: `"name": "ext4"`, modules: []string{"ext4"}},
	// From a header change; the replaced functions serve /proc/PID/fd.
	{patch: "proc-fd-header", read: "readlink /proc/self/fd/0; ksplice list --json", want: `"seq_show"`},
	// One update, two targets: applied and undone together.
	{patch: "multi-cmdline-ext4", read: "cat /proc/cmdline; ls /sys/kernel/ksplice", want: " ksplice=patched", modules: []string{"ext4"}},
	// cpu_feature_enabled(): an asm goto into .altinstr_aux and two
	// alternatives at one instruction (ALTERNATIVE_TERNARY); the update
	// carries its piece of .altinstr_aux.
	{patch: "x86-cpuinfo-mhz-altaux", read: "grep -m1 'cpu MHz' /proc/cpuinfo", want: "1234.567"},
	// pr_debug() in carried code: its descriptor is the update module's
	// own, registered with dynamic debug under the module's name.
	{patch: "proc-cmdline-pr-debug", read: `dmesg -c >/dev/null; echo "module ksplice_* +p" > /proc/dynamic_debug/control 2>/dev/null; cat /proc/cmdline >/dev/null; dmesg | grep -c "cmdline read by"`, want: "1"},
	// kernel/sched/rt.c is built only as part of build_policy.c, which
	// #includes it: that object is rebuilt.
	{patch: "sched-rt-included-c", read: "echo 0 > /proc/sys/kernel/sched_rr_timeslice_ms; cat /proc/sys/kernel/sched_rr_timeslice_ms", want: "101"},
	// A data change: no function replaced, the author's hooks set the
	// live value after apply and put the old one back after undo.
	{patch: "sys-data-overflowuid", read: "cat /proc/sys/kernel/overflowuid", want: "65533", hooks: true, allowData: []string{"overflowuid"}},
}

var (
	updatesOnce sync.Once
	updates     map[string]*create.Result
	updatesDir  string
	updatesErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if updatesDir != "" {
		os.RemoveAll(updatesDir)
	}
	testDirs.Lock()
	for _, d := range testDirs.dirs {
		os.RemoveAll(d)
	}
	testDirs.Unlock()
	os.Exit(code)
}

// testDirs are directories that outlive the test that made them (what a
// test process builds once for several tests); TestMain removes them.
var testDirs struct {
	sync.Mutex
	dirs []string
}

// testDir makes a directory that TestMain removes.
func testDir(pattern string) (string, error) {
	d, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	testDirs.Lock()
	testDirs.dirs = append(testDirs.dirs, d)
	testDirs.Unlock()
	return d, nil
}

// buildUpdates creates the update of every observable patch, once per test
// process.
func buildUpdates(t *testing.T, k *kbuild.Kernel) (map[string]*create.Result, string) {
	t.Helper()
	updatesOnce.Do(func() {
		updatesDir, updatesErr = os.MkdirTemp("", "ksplice-apply-lab-")
		if updatesErr != nil {
			return
		}
		kmodSrc, _ := filepath.Abs("../../kmod-src")
		updates = map[string]*create.Result{}
		for _, c := range observable {
			p, err := srcpatch.ParseFile(filepath.Join("../../testdata/patches", c.patch+".diff"))
			if err != nil {
				updatesErr = err
				return
			}
			var hooks string
			if c.hooks {
				hooks = filepath.Join("../../testdata/patches", c.patch+".hooks.c")
			}
			start := time.Now()
			res, err := create.Create(context.Background(), create.Options{
				Kernel: k, Patch: p, PatchName: c.patch + ".diff",
				Output: filepath.Join(updatesDir, c.patch+".tar"), KmodSrc: kmodSrc, Tool: "ksplice test",
				Hooks: hooks, AllowData: c.allowData,
			})
			if err != nil {
				updatesErr = fmt.Errorf("create %s: %w", c.patch, err)
				return
			}
			t.Logf("create %s: %v", c.patch, time.Since(start).Round(time.Millisecond))
			if got, want := res.Manifest.Hooks != "", c.hooks; got != want {
				updatesErr = fmt.Errorf("create %s: manifest names hooks %q, want hooks: %v", c.patch, res.Manifest.Hooks, want)
				return
			}
			updates[c.patch] = res
		}
	})
	if updatesErr != nil {
		t.Fatal(updatesErr)
	}
	return updates, updatesDir
}

func scriptFile(t *testing.T) lab.File {
	t.Helper()
	lib, err := filepath.Abs("../../testdata/lab-scripts/lib.sh")
	if err != nil {
		t.Fatal(err)
	}
	return lab.File{Host: lib, Guest: "/root/lib.sh"}
}

// TestApplyObservable applies and undoes every observable sample update,
// one after the other in one boot, watching the behaviour change and come
// back; each update starts from a kernel that the ones before left
// untouched.
func TestApplyObservable(t *testing.T) {
	k := labtest.Kernel(t)
	ups, dir := buildUpdates(t, k)
	files := []lab.File{scriptFile(t)}
	var modules []string
	script := ". ./lib.sh\n"
	for _, c := range observable {
		res := ups[c.patch]
		files = append(files, lab.File{Host: filepath.Join(dir, c.patch+".tar"), Guest: "/root/" + c.patch + ".tar"})
		for _, m := range c.modules {
			if !slices.Contains(modules, m) {
				modules = append(modules, m)
			}
		}
		script += fmt.Sprintf("echo %s\nobserve %s %s %s %s\necho %s\n", shq(observeMark+c.patch),
			shq(c.patch+".tar"), shq(res.ID), shq(c.read), shq(c.want), shq("PASS "+c.patch))
	}
	script += "echo PASS\n"
	out := labtest.Run(t, lab.RunOptions{Files: files, Modules: modules, Command: []string{"sh", "-c", script}})
	t.Logf("guest (boot %v, total %v)", out.Result.Boot.Round(time.Millisecond), out.Result.Total.Round(time.Millisecond))
	for _, c := range observable {
		t.Run(c.patch, func(t *testing.T) {
			id := ups[c.patch].ID
			got, ok := observed(out.Stdout, c.patch)
			if !ok {
				t.Fatalf("the guest did not get to %s (exit %d):\n%s\n%s", c.patch, out.Result.ExitCode, out.Stdout, out.Stderr)
			}
			t.Logf("guest:\n%s", got)
			if !strings.Contains(got, "\nPASS "+c.patch+"\n") {
				t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, got, out.Stderr)
			}
			for _, want := range []string{"ok: " + id + ": applied", "ok: " + id + ": listed", "ok: " + id + ": undone"} {
				if !strings.Contains(got, want) {
					t.Errorf("guest output lacks %q", want)
				}
			}
		})
	}
	if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
		t.Fatalf("guest script failed (exit %d)", out.Result.ExitCode)
	}
}

// observeMark starts each update's part of TestApplyObservable's output.
const observeMark = "=== observe "

// observed returns the part of the guest's output about patch: from its
// mark to the next one, or to the end.
func observed(stdout, patch string) (string, bool) {
	mark := observeMark + patch + "\n"
	i := strings.Index(stdout, mark)
	if i < 0 {
		return "", false
	}
	rest := stdout[i+len(mark):]
	if j := strings.Index(rest, observeMark); j >= 0 {
		rest = rest[:j]
	}
	return "\n" + rest, true
}

// TestApplyBadInput feeds apply and undo what they must refuse, in one
// boot, and checks after each that the kernel is untouched.
func TestApplyBadInput(t *testing.T) {
	k := labtest.Kernel(t)
	ups, dir := buildUpdates(t, k)
	good := filepath.Join(dir, "proc-version-string.tar")
	res := ups["proc-version-string"]
	u, err := update.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	mod := res.Manifest.Targets[0].Module
	bad := t.TempDir()
	// The guest trusts key; every update here is signed by it but those
	// about signatures, so that each refusal is the one the case is for.
	key, pub := testKey(t)
	other, otherPub := testKey(t)
	pubFile := filepath.Join(bad, "test.pub")
	pb, _ := pub.MarshalText()
	if err := os.WriteFile(pubFile, pb, 0o644); err != nil {
		t.Fatal(err)
	}
	writeFile := func(name string, b []byte) string {
		p := filepath.Join(bad, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	resign := func(u *update.Update, k sign.PrivateKey) []byte {
		b, err := update.Resign(u, k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	unsigned := writeFile("unsigned.tar", u.Raw)
	untrusted := writeFile("untrusted.tar", resign(u, other))
	signedGood := resign(u, key)
	// The manifest's description edited after signing: every checksum
	// still matches, only the signature tells.
	badsig := writeFile("badsig.tar", editManifest(t, signedGood, func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"description": "`), []byte(`"description": "EVIL `), 1)
	}))
	good = writeFile("good.tar", signedGood)
	write := func(name string, edit func(m *update.Manifest, files map[string][]byte)) string {
		m := u.Manifest
		m.Targets = append([]update.Target(nil), m.Targets...)
		files := map[string][]byte{}
		for n, b := range u.Files {
			files[n] = append([]byte(nil), b...)
		}
		edit(&m, files)
		var buf bytes.Buffer
		if err := update.WriteSigned(&buf, &m, files, key); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(bad, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A byte flipped inside the module, checksums left as they were.
	tampered := filepath.Join(bad, "tampered.tar")
	if err := os.WriteFile(tampered, flipInTar(t, good, mod), 0o644); err != nil {
		t.Fatal(err)
	}
	wrongRelease := write("release.tar", func(m *update.Manifest, _ map[string][]byte) { m.Kernel.Release = "6.1.0-99-amd64" })
	wrongArch := write("arch.tar", func(m *update.Manifest, _ map[string][]byte) { m.Kernel.Machine = "aarch64" })
	truncated := write("truncated.tar", func(_ *update.Manifest, f map[string][]byte) { f[mod] = f[mod][:len(f[mod])/2] })
	// The old code of version_proc_show with one byte changed, checksums
	// recomputed: what an update built from a different source looks like
	// to run-pre matching.
	var off int
	mismatch := write("mismatch.tar", func(_ *update.Manifest, f map[string][]byte) {
		f[mod], off = flipOldCode(t, f[mod])
	})
	t.Logf("mismatch: old code of version_proc_show changed at +%#x", off)

	files := []lab.File{scriptFile(t), {Host: good, Guest: "/root/good.tar"}, {Host: pubFile, Guest: "/etc/ksplice/keys.d/test.pub"}}
	for _, p := range []string{tampered, wrongRelease, wrongArch, truncated, mismatch, unsigned, untrusted, badsig} {
		files = append(files, lab.File{Host: p, Guest: "/root/" + filepath.Base(p)})
	}
	script := `. ./lib.sh
v=$(cat /proc/version)
same() { [ "$(cat /proc/version)" = "$v" ] || fail "/proc/version changed: $(cat /proc/version)"; untouched; }
run 1 ksplice apply tampered.tar; same
run 3 ksplice apply release.tar; same
run 3 ksplice apply arch.tar; same
run 1 ksplice apply truncated.tar; same
run 3 ksplice apply mismatch.tar; same
run 3 ksplice apply unsigned.tar; same
run 3 ksplice apply untrusted.tar; same
run 3 ksplice apply badsig.tar; same
run 3 ksplice apply --allow-unsigned badsig.tar; same
run 1 ksplice undo unknown_id; same
chmod 755 /root; chmod 644 good.tar
mkdir -p /etc; grep -q '^nobody:' /etc/passwd 2>/dev/null || echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >> /etc/passwd
run 1 su -s /bin/sh nobody -c 'id -u; ksplice apply good.tar'; same
run 0 ksplice apply good.tar
run 0 ksplice apply good.tar
run 1 su -s /bin/sh nobody -c 'ksplice undo ` + res.ID + `'
case "$(cat /proc/version)" in *"ksplice: live-patched"*) ok "still applied" ;; *) fail "undo by nobody changed something" ;; esac
run 0 ksplice undo ` + res.ID + `; same
echo PASS
`
	out := labtest.Run(t, lab.RunOptions{Files: files, Command: []string{"sh", "-c", script}})
	t.Logf("guest:\n%s", out.Stdout)
	if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
		t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
	}
	// What each refusal says.
	for _, c := range []struct{ cmd, want string }{
		{"apply tampered.tar", "checksum"},
		{"apply release.tar", "6.1.0-99-amd64"},
		{"apply arch.tar", "aarch64"},
		{"apply mismatch.tar", "version_proc_show"},
		{"apply unsigned.tar", "not signed"},
		{"apply untrusted.tar", "untrusted key (key " + otherPub.ID() + ")"},
		{"apply badsig.tar", "bad signature (key " + pub.ID() + ")"},
		{"apply --allow-unsigned badsig.tar", "bad signature (key " + pub.ID() + ")"},
		{"undo unknown_id", "unknown_id"},
		{"id -u; ksplice apply good.tar", "root"},
		{"nobody -c ksplice undo " + res.ID, "root"},
	} {
		section := regexp.MustCompile(`(?s)--- [^\n]*` + regexp.QuoteMeta(c.cmd) + ` \(exit \d+\)\n(.*?)\n---\n`).FindStringSubmatch(out.Stdout)
		if section == nil {
			t.Errorf("%s: no output section", c.cmd)
			continue
		}
		if !strings.Contains(section[1], c.want) {
			t.Errorf("%s: output %q does not mention %q", c.cmd, section[1], c.want)
		}
	}
}

// testKey makes a key pair for signing updates in a test.
func testKey(t *testing.T) (sign.PrivateKey, sign.PublicKey) {
	t.Helper()
	priv, pub, err := sign.GenerateKey("ksplice test key")
	if err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// editManifest returns the update tarball tarb with its manifest's bytes
// changed by edit, and everything else as it was (signature included).
func editManifest(t *testing.T, tarb []byte, edit func([]byte) []byte) []byte {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(tarb))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == update.ManifestName {
			b = edit(b)
		}
		hdr.Size = int64(len(b))
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// shq quotes s for sh.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// flipInTar returns the tarball at name with one byte of member flipped,
// everything else (the manifest's checksums too) as it was.
func flipInTar(t *testing.T, name, member string) []byte {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	tr, tw := tar.NewReader(f), tar.NewWriter(&buf)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == member {
			b[len(b)/2] ^= 0xff
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// flipOldCode changes one byte of ksplice_old_code_0 in an update module,
// the first one past the __fentry__ call that no relocation or site of the
// old code covers, and returns the module and that offset.
func flipOldCode(t *testing.T, ko []byte) ([]byte, int) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		t.Fatal(err)
	}
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	find := func(name string) *elf.Symbol {
		for i := range syms {
			if syms[i].Name == name {
				return &syms[i]
			}
		}
		return nil
	}
	code := find("ksplice_old_code_0")
	if code == nil {
		t.Fatal("no ksplice_old_code_0 in the update module")
	}
	sec := f.Sections[code.Section]
	data, err := sec.Data()
	if err != nil {
		t.Fatal(err)
	}
	covered := map[int]bool{}
	if r := find("ksplice_old_relocs_0"); r != nil {
		b := f.Sections[r.Section]
		d, _ := b.Data()
		for i := r.Value; i+24 <= r.Value+r.Size; i += 24 {
			o := int(binary.LittleEndian.Uint32(d[i:]))
			for j := o; j < o+8; j++ { // at most an 8-byte field
				covered[j] = true
			}
		}
	}
	if s := find("ksplice_sites_0"); s != nil {
		d, _ := f.Sections[s.Section].Data()
		for i := s.Value; i+16 <= s.Value+s.Size; i += 16 {
			o, n := int(binary.LittleEndian.Uint32(d[i:])), int(binary.LittleEndian.Uint16(d[i+4:]))
			for j := o; j < o+n; j++ {
				covered[j] = true
			}
		}
	}
	off := -1
	for i := 5; i < int(code.Size); i++ {
		if !covered[i] {
			off = i
			break
		}
	}
	if off < 0 {
		t.Fatal("every byte of the old code is relocated")
	}
	at := sec.Offset + code.Value + uint64(off)
	if sec.Type != elf.SHT_PROGBITS || code.Value+uint64(off) >= uint64(len(data)) {
		t.Fatal("old code is not in a PROGBITS section")
	}
	out := append([]byte(nil), ko...)
	out[at] ^= 0x01
	return out, off
}

// TestApplyStacked stacks two updates on one function: the second, made
// with --after the first's patch, applies only on top of the first; the
// first cannot be undone while the second is applied; undone newest first,
// the kernel is back where it started.
func TestApplyStacked(t *testing.T) {
	k := labtest.Kernel(t)
	kmodSrc, _ := filepath.Abs("../../kmod-src")
	dir := t.TempDir()
	read := func(name string) *srcpatch.Patch {
		p, err := srcpatch.ParseFile(filepath.Join("../../testdata/patches", name+".diff"))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	var files []lab.File
	for i, c := range []struct {
		patch string
		after []*srcpatch.Patch
	}{
		{"proc-cmdline-string", nil},
		{"proc-cmdline-stacked", []*srcpatch.Patch{read("proc-cmdline-string")}},
		// Shares no function with the others: undone in any order.
		{"proc-version-string", nil},
	} {
		id := fmt.Sprintf("stack%d", i+1)
		if i == 2 {
			id = "indep"
		}
		out := filepath.Join(dir, id+".tar")
		_, err := create.Create(context.Background(), create.Options{Kernel: k, Patch: read(c.patch), PatchName: c.patch,
			After: c.after, ID: id, Output: out, KmodSrc: kmodSrc})
		if err != nil {
			t.Fatalf("create %s: %v", c.patch, err)
		}
		files = append(files, lab.File{Host: out, Guest: "/root/" + filepath.Base(out)})
	}
	out := labtest.Run(t, lab.RunOptions{Files: files, Command: []string{"sh", "-c", `
ksplice apply --allow-unsigned stack2.tar >/dev/null 2>&1; echo "apply2-alone $?"
ksplice apply --allow-unsigned stack1.tar >/dev/null; echo "apply1 $?"
ksplice apply --allow-unsigned stack2.tar >/dev/null; echo "apply2 $?"
echo "cmdline $(cat /proc/cmdline)"
ksplice undo stack1 >/dev/null 2>&1; echo "undo1-first $?"
echo "cmdline $(cat /proc/cmdline)"
ksplice undo stack2 >/dev/null; echo "undo2 $?"
ksplice undo stack1 >/dev/null; echo "undo1 $?"
echo "cmdline $(cat /proc/cmdline)"
ksplice list
ksplice apply --allow-unsigned stack1.tar >/dev/null; ksplice apply --allow-unsigned indep.tar >/dev/null; echo "apply-indep $?"
ksplice undo stack1 >/dev/null; echo "undo-older-independent $?"
echo "indep-version $(grep -c 'ksplice: live-patched' /proc/version) cmdline-patched $(grep -c ksplice= /proc/cmdline)"
ksplice undo indep >/dev/null; echo "undo-indep $?"
ksplice apply --allow-unsigned stack1.tar >/dev/null && ksplice apply --allow-unsigned stack2.tar >/dev/null
ksplice undo --all --json | tr -d ' \n'; echo
echo "after-all $(cat /proc/cmdline) $(ksplice list)"`}})
	want := []string{
		"apply2-alone 3", "apply1 0", "apply2 0",
		"ksplice=patched stacked=yes", "undo1-first 3", "undo2 0", "undo1 0",
		"no updates applied",
		// Independent updates undo in any order (issue 9, point 12).
		"apply-indep 0", "undo-older-independent 0", "indep-version 1 cmdline-patched 0", "undo-indep 0",
		// undo --all: newest first.
		`[{"id":"stack2"`, `},{"id":"stack1"`,
	}
	for _, w := range want {
		if !strings.Contains(out.Stdout, w) {
			t.Errorf("guest output lacks %q:\n%s", w, out.Stdout)
		}
	}
	lines := strings.Split(strings.TrimSpace(out.Stdout), "\n")
	var cmdlines []string
	for _, l := range lines {
		if c, ok := strings.CutPrefix(l, "cmdline "); ok {
			cmdlines = append(cmdlines, c)
		}
	}
	if len(cmdlines) != 3 || cmdlines[1] != cmdlines[0] || strings.Contains(cmdlines[2], "ksplice") {
		t.Errorf("cmdline after apply, refused undo, full undo = %q", cmdlines)
	}
	for _, l := range lines {
		if rest, ok := strings.CutPrefix(l, "after-all "); ok && (strings.Contains(rest, "ksplice=") || !strings.Contains(rest, "no updates applied")) {
			t.Errorf("after undo --all: %s", rest)
		}
	}
}

// TestApplyHookVeto applies an update whose only hook, pre_apply, refuses:
// apply must exit 3 naming the hook, with /proc/cmdline unchanged and
// nothing left loaded.
func TestApplyHookVeto(t *testing.T) {
	k := labtest.Kernel(t)
	kmodSrc, _ := filepath.Abs("../../kmod-src")
	p, err := srcpatch.ParseFile("../../testdata/patches/proc-cmdline-string.diff")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "veto.tar")
	_, err = create.Create(context.Background(), create.Options{Kernel: k, Patch: p, PatchName: "veto", ID: "veto",
		Hooks: "../../testdata/patches/proc-cmdline-veto.hooks.c", Output: out, KmodSrc: kmodSrc})
	if err != nil {
		t.Fatal(err)
	}
	run := labtest.Run(t, lab.RunOptions{Files: []lab.File{{Host: out, Guest: "/root/veto.tar"}}, Command: []string{"sh", "-c", `
before=$(cat /proc/cmdline)
ksplice apply --allow-unsigned veto.tar; echo "apply $?"
[ "$(cat /proc/cmdline)" = "$before" ] && echo "cmdline unchanged"
ksplice list
grep -c ksplice /proc/modules || true`}})
	for _, w := range []string{"apply 3", "cmdline unchanged", "no updates applied", "\n0\n"} {
		if !strings.Contains(run.Stdout, w) {
			t.Errorf("guest stdout lacks %q:\n%s", w, run.Stdout)
		}
	}
	if !strings.Contains(run.Stderr, "hook") {
		t.Errorf("the refusal does not name the hook:\n%s", run.Stderr)
	}
}
