package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/sign"
)

// TestUpgradeLab is the fleet path end to end, with the built binary as an
// operator runs it: two updates created for the lab kernel and published,
// signed (the updates and the index), into a directory; the directory copied into the guest with the
// public key in /etc/ksplice/keys.d; ksplice upgrade --repo applies both
// (both effects visible), and a second upgrade, finding the repository
// through /etc/ksplice/repo, changes nothing and exits 0.
func TestUpgradeLab(t *testing.T) {
	k := labtest.Kernel(t)
	bin := labtest.GuestBinary(t)
	work := t.TempDir()
	kmodSrc, err := filepath.Abs("../../kmod-src")
	if err != nil {
		t.Fatal(err)
	}
	keyFile, keysDir := testKeys(t)
	ksplice := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "KSPLICE_KMOD_SRC="+kmodSrc)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ksplice %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	var tars []string
	for _, c := range []struct{ id, patch string }{
		{"fleet_cmdline", "proc-cmdline-string"},
		{"fleet_version", "proc-version-string"},
	} {
		tar := filepath.Join(work, c.id+".tar")
		start := time.Now()
		ksplice("create", "--kernel", k.Spec, "--id", c.id, "--sign", keyFile, "-o", tar, filepath.Join("../../testdata/patches", c.patch+".diff"))
		t.Logf("create %s: %v", c.id, time.Since(start).Round(time.Millisecond))
		tars = append(tars, tar)
	}
	repoDir := filepath.Join(work, "repo")
	t.Logf("publish:\n%s", ksplice(append([]string{"publish", "--sign", keyFile, repoDir}, tars...)...))

	files := []lab.File{scriptFileCLI(t), {Host: filepath.Join(keysDir, "fleet.pub"), Guest: "/etc/ksplice/keys.d/fleet.pub"}}
	err = filepath.Walk(repoDir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(repoDir, p)
		files = append(files, lab.File{Host: p, Guest: "/root/repo/" + filepath.ToSlash(rel)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sign.ReadPublicKeyFile(filepath.Join(keysDir, "fleet.pub"))
	if err != nil {
		t.Fatal(err)
	}

	script := `. ./lib.sh
untouched
c0=$(cat /proc/cmdline); v0=$(cat /proc/version)
run 0 ksplice show --available --repo /root/repo
case "$out" in *"fleet_cmdline  available"*"fleet_version  available"*) ok "show: both available, in order" ;; *) fail "show --available" ;; esac
run 0 ksplice upgrade --repo /root/repo --dry-run
untouched
run 0 ksplice upgrade --repo /root/repo
case "$out" in *"index signed by key ` + pub.ID() + `"*) ok "index verified" ;; *) fail "no key id in the output" ;; esac
case "$(cat /proc/cmdline)" in *" ksplice=patched"*) ok "cmdline update applied" ;; *) fail "/proc/cmdline: $(cat /proc/cmdline)" ;; esac
case "$(cat /proc/version)" in *"ksplice: live-patched"*) ok "version update applied" ;; *) fail "/proc/version: $(cat /proc/version)" ;; esac
mods=$(lsmod | grep -c '^ksplice')
echo /root/repo > /etc/ksplice/repo
run 0 ksplice upgrade --json
case "$out" in *'"changed": false'*) ok "second upgrade changed nothing" ;; *) fail "second upgrade changed something" ;; esac
[ "$(lsmod | grep -c '^ksplice')" = "$mods" ] || fail "second upgrade loaded modules"
run 0 ksplice upgrade
case "$out" in *"nothing to do: all 2 updates"*) ok "nothing to do" ;; *) fail "second upgrade's text" ;; esac
run 0 ksplice show --available
case "$out" in *"fleet_cmdline  applied"*"fleet_version  applied"*) ok "show: both applied" ;; *) fail "show --available after upgrade" ;; esac
run 0 ksplice list
run 0 ksplice undo --all
[ "$(cat /proc/cmdline)" = "$c0" ] && [ "$(cat /proc/version)" = "$v0" ] || fail "not restored"
untouched
echo PASS
`
	out := labtest.Run(t, lab.RunOptions{Files: files, Command: []string{"sh", "-c", script}, Timeout: 10 * time.Minute})
	t.Logf("guest:\n%s", out.Stdout)
	if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
		t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
	}
	// The first upgrade applied them in the published order.
	i, j := strings.Index(out.Stdout, "applied fleet_cmdline"), strings.Index(out.Stdout, "applied fleet_version")
	if i < 0 || j < 0 || i > j {
		t.Errorf("upgrade did not apply fleet_cmdline then fleet_version")
	}
}

func scriptFileCLI(t *testing.T) lab.File {
	t.Helper()
	lib, err := filepath.Abs("../../testdata/lab-scripts/lib.sh")
	if err != nil {
		t.Fatal(err)
	}
	return lab.File{Host: lib, Guest: "/root/lib.sh"}
}
