package upgrade_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/upgrade"
)

// upgradeTo is the release the lab test upgrades the lab kernel to:
// $KSPLICE_UPGRADE_TO, else the next Debian release of the kernel's source
// when this test knows a small one.
func upgradeTo(t *testing.T, k *kbuild.Kernel) string {
	if v := os.Getenv("KSPLICE_UPGRADE_TO"); v != "" {
		return v
	}
	// 6.1.192-1 -> 6.1.192-2 is one fix, to fs/ext4/mballoc.c (a module).
	next := map[string]string{"6.1.192-1": "6.1.192-2"}
	if v := next[k.Packages["linux-source-6.1"]]; v != "" {
		return v
	}
	t.Skipf("no small delta known from %s's source %s: set KSPLICE_UPGRADE_TO", k.Spec, k.Version)
	return ""
}

// TestUpgradeLab makes the updates of a real release delta (by default
// Debian's 6.1.192-1 -> 6.1.192-2 on debian:6.1.0-55-amd64) and, in one
// boot of the kernel, applies and undoes each of them, then applies the
// cumulative one, checks that uname -r and list say what it brings, runs
// a smoke test (loopback network, an ext4 file system written and read
// back, a hundred processes) with it applied, and undoes it. The console
// must stay clean (labtest.Run fails on an oops, WARNING or BUG).
func TestUpgradeLab(t *testing.T) {
	k := labtest.Kernel(t)
	r := upgradeReport(t, k)
	// Every changed file is in exactly one category, and the counts say so.
	n := 0
	for _, c := range upgrade.Categories {
		n += r.Summary.ByCategory[c]
	}
	if n != len(r.Files) || len(r.Files) == 0 {
		t.Fatalf("%d files in categories, %d in the report", n, len(r.Files))
	}
	// A run that was stopped and reported with --cached-only (a corpus
	// that did not finish) has no cumulative update: its updates are
	// applied all together instead, for the smoke test.
	partial := os.Getenv("KSPLICE_UPGRADE_REPORT") != "" && (r.Cumulative == nil || r.Cumulative.Category != upgrade.Carried)
	if !partial && (r.Cumulative == nil || r.Cumulative.Category != upgrade.Carried) {
		t.Fatalf("no cumulative update: %+v (notes %v)", r.Cumulative, r.Notes)
	}
	release := upgrade.DebianRelease(context.Background(), k.Release, r.To)
	if release == "" {
		t.Fatalf("the mirror names no %s kernel of version %s", k.Release, r.To)
	}

	files := []lab.File{{Host: labScript(t), Guest: "/root/lib.sh"}}
	var mods []string
	var script strings.Builder
	script.WriteString(". ./lib.sh\n" + tryUpdate + "untouched\n")
	var tried []upgrade.Outcome
	all := slices.Clone(r.Updates)
	if !partial {
		all = append(all, *r.Cumulative)
	}
	for _, u := range all {
		if u.Category != upgrade.Carried {
			continue
		}
		tried = append(tried, u)
		name := filepath.Base(u.Output)
		files = append(files, lab.File{Host: u.Output, Guest: "/root/" + name})
		for _, tg := range u.Targets {
			if tg != "vmlinux" && !slices.Contains(mods, tg) {
				mods = append(mods, tg)
			}
		}
		id := u.Group.ID
		if u.Group.Kind != "cumulative" {
			fmt.Fprintf(&script, "try %s %s\n", id, name)
			continue
		}
		fmt.Fprintf(&script, "run 0 ksplice apply --allow-unsigned %s\n", name)
		fmt.Fprintf(&script, "run 0 ksplice uname -r\n[ \"$out\" = %s ] && ok \"uname -r: $out\" || fail \"uname -r: $out, want %s\"\n", release, release)
		fmt.Fprintf(&script, "run 0 ksplice list\ncase \"$out\" in *\"%s: %d of %d changed files\"*) ok \"list: what it brings\" ;; *) fail \"list does not say what %s brings\" ;; esac\n",
			r.To, r.Summary.ByCategory[upgrade.Carried], r.Summary.ByCategory[upgrade.Carried]+r.Summary.ByCategory[upgrade.Refused], id)
		script.WriteString(smoke)
		fmt.Fprintf(&script, "run 0 ksplice undo %s\necho \"RESULT %s applied+undone\"\n", id, id)
		fmt.Fprintf(&script, "run 0 ksplice uname -r\n[ \"$out\" = %s ] && ok \"uname -r after undo: $out\" || fail \"uname -r after undo: $out\"\n", k.Release)
		script.WriteString("untouched\n")
	}
	if partial {
		script.WriteString("for f in ksplice-*.tar; do ksplice apply --allow-unsigned \"$f\" >/dev/null 2>&1 || echo \"not applied with the others: $f\"; done\nrun 0 ksplice list\n")
		script.WriteString(smoke)
		script.WriteString("run 0 ksplice undo --all\nuntouched\n")
	}
	script.WriteString("echo PASS\n")
	// The smoke test's file system is ext4 on a loop device; ext4 asks
	// for crc32c when it mounts, which the guest cannot load on demand.
	for _, m := range []string{"loop", "crc32c_generic", "ext4"} {
		if !slices.Contains(mods, m) {
			mods = append(mods, m)
		}
	}
	boot := time.Now()
	// The tarballs are in the guest's initramfs, in its memory: 1 GB
	// and a few more for each.
	var size int64
	for _, f := range files {
		if st, err := os.Stat(f.Host); err == nil {
			size += st.Size()
		}
	}
	res := labtest.Run(t, lab.RunOptions{Files: files, Modules: mods, Command: []string{"sh", "-c", script.String()},
		Timeout:  5*time.Minute + time.Duration(len(tried))*30*time.Second,
		MemoryMB: 1024 + int(3*size>>20)})
	t.Logf("guest (%v):\n%s", time.Since(boot).Round(time.Second), res.Stdout)
	table := resultTable(t, r, tried, res.Stdout)
	t.Logf("results:\n%s", table)
	if dir := os.Getenv("KSPLICE_UPGRADE_REPORT"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "lab-results.md"), []byte(table), 0o644); err != nil {
			t.Error(err)
		}
	}
	if res.Result.ExitCode != 0 || !strings.Contains(res.Stdout, "\nPASS\n") {
		t.Fatalf("guest script failed (exit %d):\n%s\n%s", res.Result.ExitCode, res.Stdout, res.Stderr)
	}
	wants := []string{"ok: smoke: loopback", "ok: smoke: tcp 127.0.0.1 8080", "ok: smoke: tcp ::1 8081", "ok: smoke: ext4", "ok: smoke: processes"}
	if !partial {
		wants = append(wants, "ok: uname -r: "+release, "ok: list: what it brings")
	}
	for _, want := range wants {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("guest output lacks %q", want)
		}
	}
}

// upgradeReport makes the updates of the delta with upgrade.Run, or reads
// those of $KSPLICE_UPGRADE_REPORT, a directory that create --upgrade-to
// made (make corpus: hours of creates, cached and resumable, are done by
// the command, the test applies them).
func upgradeReport(t *testing.T, k *kbuild.Kernel) *upgrade.Report {
	if dir := os.Getenv("KSPLICE_UPGRADE_REPORT"); dir != "" {
		r, err := upgrade.ReadReport(filepath.Join(dir, "report.json"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Kernel != k.Spec {
			t.Fatalf("%s is for %s, the lab kernel is %s", dir, r.Kernel, k.Spec)
		}
		return r
	}
	to := upgradeTo(t, k)
	kmodSrc, err := filepath.Abs("../../kmod-src")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r, err := upgrade.Run(context.Background(), upgrade.Options{
		Kernel: k, To: to, Output: t.TempDir(), Jobs: 2, KmodSrc: kmodSrc, Tool: "ksplice test",
		Log:     testLog{t},
		Release: func(ctx context.Context) string { return upgrade.DebianRelease(ctx, k.Release, to) },
		// No ToolHash: nothing from an earlier run's cache.
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("create --upgrade-to %s: %d changed files, %d updates carried of %d, in %v", to, r.Summary.Files, r.Summary.UpdatesCarried, r.Summary.Updates, time.Since(start).Round(time.Second))
	for _, u := range r.Updates {
		t.Logf("  %s: %s %s (%.0fs) %s", u.Group.ID, u.Category, u.Rule, u.Seconds, strings.Join(u.Functions, ", "))
	}
	if r.Summary.ByCategory[upgrade.NotTried] != 0 {
		t.Errorf("%d files not tried in a full run", r.Summary.ByCategory[upgrade.NotTried])
	}
	return r
}

// tryUpdate applies and undoes one update, and says how it went on a
// RESULT line, going on after a refusal: a corpus run wants every answer.
const tryUpdate = `try() {
	if ksplice apply --allow-unsigned "$2" > /tmp/apply.out 2>&1; then
		if ksplice undo "$1" > /tmp/undo.out 2>&1; then
			echo "RESULT $1 applied+undone"
		else
			echo "RESULT $1 undo-failed: $(tail -n 1 /tmp/undo.out)"
		fi
	else
		echo "RESULT $1 apply-failed(exit $?): $(tail -n 1 /tmp/apply.out)"
	fi
	untouched
}
`

// resultTable is the table of every changed file that needed an update:
// its category and rule from create, and what the lab made of its
// update. An update that did not apply and undo fails the test.
func resultTable(t *testing.T, r *upgrade.Report, tried []upgrade.Outcome, stdout string) string {
	got := map[string]string{}
	for _, line := range strings.Split(stdout, "\n") {
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			id, what, _ := strings.Cut(rest, " ")
			got[id] = what
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| file | category | rule | update | lab |\n| --- | --- | --- | --- | --- |\n")
	for _, f := range r.Files {
		if f.Category != upgrade.Carried && f.Category != upgrade.Refused && f.Category != upgrade.InitOnly {
			continue
		}
		lab := ""
		if f.Category == upgrade.Carried {
			lab = got[f.Update]
			if lab == "" {
				lab = "not reached"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", f.Path, f.Category, f.Rule, f.Update, lab)
	}
	ok := 0
	for _, u := range tried {
		if got[u.Group.ID] == "applied+undone" {
			ok++
		} else {
			t.Errorf("%s: %s", u.Group.ID, got[u.Group.ID])
		}
	}
	fmt.Fprintf(&b, "\n%d of %d updates applied and undone in one boot\n", ok, len(tried))
	return b.String()
}

// smoke checks, with an update applied, that the kernel still does the
// everyday things: loopback networking (ICMP, and TCP connections
// accepted over IPv4 and IPv6: 6.1.190 changes syn_recv_sock), a file
// system written and read back after a remount, and many short processes.
const smoke = `
ip link set lo up
run 0 ping -c 3 -W 2 127.0.0.1
ok "smoke: loopback"
mkdir -p /root/www && echo ksplice-smoke > /root/www/index.html
run 0 httpd -p 127.0.0.1:8080 -h /root/www
run 0 httpd -p '[::1]:8081' -h /root/www
for a in "127.0.0.1 8080" "::1 8081"; do
	got=$(printf 'GET /index.html HTTP/1.0\r\n\r\n' | nc -w 5 $a | tail -n 1)
	[ "$got" = ksplice-smoke ] && ok "smoke: tcp $a: a connection accepted and served" || fail "smoke: tcp $a: got '$got'"
done
killall httpd
dd if=/dev/zero of=/root/fs.img bs=1M count=32 2>/dev/null
dev=$(losetup -f) && losetup "$dev" /root/fs.img || fail "smoke: no loop device"
run 0 mke2fs -q "$dev"
mkdir -p /mnt
run 0 mount -t ext4 "$dev" /mnt
dd if=/dev/urandom of=/root/data bs=64k count=64 2>/dev/null
cp /root/data /mnt/data && sync && umount /mnt || fail "smoke: write to ext4"
run 0 mount -t ext4 "$dev" /mnt
cmp /root/data /mnt/data && ok "smoke: ext4 written and read back" || fail "smoke: ext4 data differs"
umount /mnt
losetup -d "$dev"
mkdir -p /root/procs
i=0; while [ $i -lt 100 ]; do sh -c "echo \$\$ > /root/procs/$i" & i=$((i+1)); done; wait
n=$(cat /root/procs/* | sort -u | wc -l)
[ "$n" = 100 ] && ok "smoke: processes: 100 forked, ran and reaped" || fail "smoke: processes: $n of 100 ran"
`

func labScript(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../testdata/lab-scripts/lib.sh")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testLog writes progress lines to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
