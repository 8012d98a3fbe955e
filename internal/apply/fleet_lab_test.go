package apply_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/apply"
	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/modsig"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
	"github.com/ksplice-go/ksplice/internal/update"
)

// otherReleaseKernel boots in the reboot test as "another kernel" of the
// machine: a flavour of the same release, so that it boots with the same
// lab and finds records that are not its own.
const otherReleaseKernel = "debian:6.1.0-55-cloud-amd64"

// bootJSON is apply --boot --json's output.
type bootJSON struct {
	Kernel  string             `json:"kernel"`
	Updates []apply.BootResult `json:"updates"`
}

// jsonAfter decodes the JSON object printed after the line marker.
func jsonAfter(t *testing.T, out, marker string, v any) {
	t.Helper()
	_, rest, ok := strings.Cut(out, marker+"\n")
	if !ok {
		t.Fatalf("no %q in the guest output:\n%s", marker, out)
	}
	if err := json.NewDecoder(strings.NewReader(rest)).Decode(v); err != nil {
		t.Fatalf("%s: %v\n%s", marker, err, rest)
	}
}

// TestApplyBootReboot applies two stacked updates (the second applies only
// on top of the first), signed, on one boot of a machine with a persistent
// disk; boots it again and re-applies them with apply --boot, in their
// order, the kernel showing their effect again; then boots another kernel
// release on the same disk, where both are skipped and reported, and the
// kernel is untouched.
func TestApplyBootReboot(t *testing.T) {
	k := labtest.Kernel(t)
	other := labtest.BootKernelFor(t, otherReleaseKernel)
	if other.Release == k.Release {
		t.Fatalf("%s has the release of %s", otherReleaseKernel, k.Spec)
	}
	kmodSrc, _ := filepath.Abs("../../kmod-src")
	dir := t.TempDir()
	key, pub := testKey(t)
	pubFile := filepath.Join(dir, "test.pub")
	pb, _ := pub.MarshalText()
	os.WriteFile(pubFile, pb, 0o644)
	read := func(name string) *srcpatch.Patch {
		p, err := srcpatch.ParseFile(filepath.Join("../../testdata/patches", name+".diff"))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	files := []lab.File{{Host: pubFile, Guest: "/etc/ksplice/keys.d/test.pub"}}
	for _, c := range []struct {
		id, patch string
		after     []*srcpatch.Patch
	}{
		{"boot1", "proc-cmdline-string", nil},
		{"boot2", "proc-cmdline-stacked", []*srcpatch.Patch{read("proc-cmdline-string")}},
	} {
		out := filepath.Join(dir, c.id+".tar")
		if _, err := create.Create(context.Background(), create.Options{Kernel: k, Patch: read(c.patch), PatchName: c.patch,
			After: c.after, ID: c.id, Output: out, KmodSrc: kmodSrc, SignKey: &key}); err != nil {
			t.Fatalf("create %s: %v", c.patch, err)
		}
		files = append(files, lab.File{Host: out, Guest: "/root/" + c.id + ".tar"})
	}
	disk := filepath.Join(dir, "disk.img")

	// Boot 1: apply, in order; the records and copies go to the disk.
	out := labtest.Run(t, lab.RunOptions{Files: files, Disk: disk, Command: []string{"sh", "-c", `
ksplice apply boot1.tar >/dev/null; echo "apply1 $?"
ksplice apply boot2.tar >/dev/null; echo "apply2 $?"
echo "cmdline $(cat /proc/cmdline)"
ls /var/lib/ksplice/updates`}})
	t.Logf("boot 1:\n%s%s", out.Stdout, out.Stderr)
	for _, w := range []string{"apply1 0", "apply2 0", "ksplice=patched stacked=yes", "boot1.json", "boot1.tar", "boot2.json", "boot2.tar"} {
		if !strings.Contains(out.Stdout, w) {
			t.Fatalf("boot 1: output lacks %q", w)
		}
	}

	// Boot 2, the same kernel: a fresh kernel, until apply --boot.
	out = labtest.Run(t, lab.RunOptions{Files: files, Disk: disk, Command: []string{"sh", "-c", `
echo "before $(cat /proc/cmdline)"
ksplice list >/dev/null 2>list.err; echo "list-before $?"; cat list.err
echo BOOT-JSON; ksplice apply --boot --json; echo "boot $?"
echo "after $(cat /proc/cmdline)"
echo AGAIN-JSON; ksplice apply --boot --json; echo "again $?"
ksplice list 2>&1
ksplice undo --all >/dev/null; echo "undo $?"`}})
	t.Logf("boot 2:\n%s%s", out.Stdout, out.Stderr)
	if !strings.Contains(out.Stdout, "before ") || strings.Contains(lineWith(out.Stdout, "before "), "ksplice=") {
		t.Errorf("boot 2: the new kernel already shows the update: %q", lineWith(out.Stdout, "before "))
	}
	if !strings.Contains(out.Stdout, "rebooted since?") {
		t.Errorf("boot 2: list before apply --boot does not warn that the records are not applied")
	}
	var b bootJSON
	jsonAfter(t, out.Stdout, "BOOT-JSON", &b)
	if b.Kernel != k.Release || len(b.Updates) != 2 || b.Updates[0].ID != "boot1" || b.Updates[1].ID != "boot2" ||
		b.Updates[0].Result != apply.BootApplied || b.Updates[1].Result != apply.BootApplied ||
		b.Updates[0].SignedBy != pub.ID() || b.Updates[0].Seq >= b.Updates[1].Seq {
		t.Errorf("boot 2: apply --boot = %+v; want boot1 then boot2 applied, signed by %s", b, pub.ID())
	}
	for _, w := range []string{"boot 0", "after console=", "again 0", "undo 0"} {
		if !strings.Contains(out.Stdout, w) {
			t.Errorf("boot 2: output lacks %q", w)
		}
	}
	if l := lineWith(out.Stdout, "after "); !strings.Contains(l, "ksplice=patched stacked=yes") {
		t.Errorf("boot 2: after apply --boot, /proc/cmdline is %q; want both updates' effect", l)
	}
	var again bootJSON
	jsonAfter(t, out.Stdout, "AGAIN-JSON", &again)
	if len(again.Updates) != 2 || again.Updates[0].Result != apply.BootAlreadyApplied || again.Updates[1].Result != apply.BootAlreadyApplied {
		t.Errorf("boot 2: apply --boot again = %+v; want both already applied", again)
	}

	// Boot 1 again, to record the updates once more (boot 2 undid them),
	// then another release on the same disk.
	out = labtest.Run(t, lab.RunOptions{Files: files, Disk: disk, Command: []string{"sh", "-c",
		`ksplice apply boot1.tar >/dev/null && ksplice apply boot2.tar >/dev/null; echo "reapply $?"`}})
	if !strings.Contains(out.Stdout, "reapply 0") {
		t.Fatalf("boot 3: %s%s", out.Stdout, out.Stderr)
	}
	out = labtest.Run(t, lab.RunOptions{Kernel: other, Files: files, Disk: disk, Command: []string{"sh", "-c", `
echo BOOT-JSON; ksplice apply --boot --json; echo "boot $?"
echo "after $(cat /proc/cmdline)"
lsmod | grep -c '^ksplice' ; true
ksplice list 2>&1 >/dev/null`}})
	t.Logf("boot 4 (%s):\n%s%s", other.Release, out.Stdout, out.Stderr)
	var skipped bootJSON
	jsonAfter(t, out.Stdout, "BOOT-JSON", &skipped)
	if skipped.Kernel != other.Release || len(skipped.Updates) != 2 {
		t.Fatalf("boot 4: apply --boot = %+v", skipped)
	}
	for _, r := range skipped.Updates {
		if r.Result != apply.BootSkipped || r.Kernel != k.Release || !strings.Contains(r.Reason, "recorded for kernel "+k.Release) {
			t.Errorf("boot 4: %+v; want skipped, naming %s", r, k.Release)
		}
	}
	if !strings.Contains(out.Stdout, "boot 0") || strings.Contains(lineWith(out.Stdout, "after "), "ksplice=") {
		t.Errorf("boot 4: exit or /proc/cmdline wrong:\n%s", out.Stdout)
	}
	if !strings.Contains(out.Stdout, "recorded for kernel "+k.Release) {
		t.Errorf("boot 4: ksplice list does not say the records are another kernel's")
	}
}

func lineWith(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

// TestApplyModuleSigEnforced boots the kernel with module.sig_enforce=1.
// Debian's kernel trusts only Debian's own signing key (built in; no MOK
// without UEFI and shim), so no module of ours can load there: what is
// tested is that (1) an update whose modules are unsigned is refused
// before anything is loaded, saying what to do, and (2) modules that
// create --module-sign-key signed reach the kernel's own signature check,
// which parses the signature and refuses it only for its unknown key
// ("module with unavailable key" in dmesg, where a malformed one would be
// EBADMSG), and the refusal says so. On the host the same modules'
// signatures verify with openssl against the certificate.
func TestApplyModuleSigEnforced(t *testing.T) {
	k := labtest.Kernel(t)
	kmodSrc, _ := filepath.Abs("../../kmod-src")
	dir := t.TempDir()
	mkey, mcert := moduleTestKey(t, dir)
	key, pub := testKey(t)
	pubFile := filepath.Join(dir, "test.pub")
	pb, _ := pub.MarshalText()
	os.WriteFile(pubFile, pb, 0o644)
	p, err := srcpatch.ParseFile("../../testdata/patches/proc-cmdline-string.diff")
	if err != nil {
		t.Fatal(err)
	}
	signed := filepath.Join(dir, "modsigned.tar")
	res, err := create.Create(context.Background(), create.Options{Kernel: k, Patch: p, PatchName: "proc-cmdline-string.diff",
		ID: "modsig", Output: signed, KmodSrc: kmodSrc, SignKey: &key, ModuleSignKey: mkey, ModuleSignCert: mcert})
	if err != nil {
		t.Fatal(err)
	}
	if res.ModulesSignedBy != "ksplice lab test module key" {
		t.Errorf("ModulesSignedBy = %q", res.ModulesSignedBy)
	}
	u, err := update.ReadFile(signed)
	if err != nil {
		t.Fatal(err)
	}
	// The same update with its modules' signatures taken off.
	m := u.Manifest
	files := map[string][]byte{}
	for n, b := range u.Files {
		files[n] = b
		if !strings.HasSuffix(n, ".ko") {
			continue
		}
		sig, err := modsig.Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		verifyWithOpenSSL(t, dir, sig, mcert, n)
		files[n] = sig.Content
	}
	var buf bytes.Buffer
	if err := update.WriteSigned(&buf, &m, files, key); err != nil {
		t.Fatal(err)
	}
	unsigned := filepath.Join(dir, "unsigned.tar")
	os.WriteFile(unsigned, buf.Bytes(), 0o644)

	out := labtest.Run(t, lab.RunOptions{KernelArgs: []string{"module.sig_enforce=1"},
		Files: []lab.File{{Host: pubFile, Guest: "/etc/ksplice/keys.d/test.pub"},
			{Host: signed, Guest: "/root/modsigned.tar"}, {Host: unsigned, Guest: "/root/unsigned.tar"}},
		Command: []string{"sh", "-c", `
echo "enforce $(cat /sys/module/module/parameters/sig_enforce)"
echo UNSIGNED; ksplice apply unsigned.tar; echo "unsigned-exit $?"
echo "lsmod-after-unsigned $(lsmod | grep -c '^ksplice')"
echo "dmesg-after-unsigned $(dmesg | grep -c 'Loading of')"
echo SIGNED; ksplice apply modsigned.tar; echo "signed-exit $?"
echo "lsmod-after-signed $(lsmod | grep -c '^ksplice')"
dmesg | grep 'Loading of'; true`}})
	t.Logf("guest:\n%s\nstderr:\n%s", out.Stdout, out.Stderr)
	for _, w := range []string{"enforce Y", "unsigned-exit 3", "lsmod-after-unsigned 0", "dmesg-after-unsigned 0",
		"signed-exit 3", "lsmod-after-signed 0", "Loading of module with unavailable key is rejected"} {
		if !strings.Contains(out.Stdout, w) {
			t.Errorf("guest output lacks %q", w)
		}
	}
	for _, w := range []string{"loads only signed modules (module.sig_enforce=1)", "ksplice.ko, ksplice_modsig_vmlinux.ko", "nothing was loaded", "--module-sign-key",
		"rejected the module's signature", "key was rejected by service"} {
		if !strings.Contains(out.Stderr, w) {
			t.Errorf("apply's messages lack %q", w)
		}
	}
}

// moduleTestKey makes a module signing key and certificate as the kernel's
// certs/Makefile makes its own.
func moduleTestKey(t *testing.T, dir string) (key, cert string) {
	t.Helper()
	conf := filepath.Join(dir, "x509.genkey")
	os.WriteFile(conf, []byte("[ req ]\ndefault_bits = 2048\ndistinguished_name = dn\nprompt = no\nx509_extensions = ext\n"+
		"[ dn ]\nCN = ksplice lab test module key\n"+
		"[ ext ]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"), 0o644)
	key, cert = filepath.Join(dir, "mod.key.pem"), filepath.Join(dir, "mod.crt.pem")
	if out, err := exec.Command("openssl", "req", "-new", "-nodes", "-utf8", "-sha256", "-days", "36500", "-batch", "-x509",
		"-config", conf, "-outform", "PEM", "-out", cert, "-keyout", key).CombinedOutput(); err != nil {
		t.Fatalf("openssl req: %v\n%s", err, out)
	}
	return key, cert
}

// verifyWithOpenSSL checks a module's PKCS#7 signature over its content
// against cert, as the kernel checks it against its keyring.
func verifyWithOpenSSL(t *testing.T, dir string, sig *modsig.Signature, cert, name string) {
	t.Helper()
	p7, content := filepath.Join(dir, name+".p7"), filepath.Join(dir, name+".content")
	os.WriteFile(p7, sig.PKCS7, 0o644)
	os.WriteFile(content, sig.Content, 0o644)
	if out, err := exec.Command("openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", p7, "-content", content,
		"-certfile", cert, "-nointern", "-noverify", "-out", os.DevNull).CombinedOutput(); err != nil {
		t.Errorf("%s: openssl cms -verify: %v\n%s", name, err, out)
	}
}
