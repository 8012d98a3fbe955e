package apply_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// authored are sample patches written against the author API: ksplice's
// shadow variables (ksplice-patch.h) and kpatch's macros (kpatch-macros.h,
// kpatch-syscall.h), the way kpatch's integration tests are written. Each
// is created, applied, observed and undone, all in one boot: during runs while
// the update is applied, after once it is undone; both are busybox sh and
// use lib.sh (ok, fail, run).
var authored = []struct {
	patch string
	// funcs must be in the update's function list, notFuncs must not.
	funcs, notFuncs []string
	during, after   string
	// kept names a function whose address the new code passes on (a
	// shadow variable's constructor or destructor): create marks the
	// update to keep its module, undo leaves it loaded and list shows it
	// reversed-kept, naming the function. patchgen cannot tell that the
	// shadow API does not keep the pointer: conservative.
	kept string
}{
	{
		// Shadow data, under load: busy shells run through apply, the
		// count grows per task, and undo frees every variable.
		patch: "proc-status-shadow",
		funcs: []string{"proc_pid_status"},
		during: `
n=$(cat /sys/module/ksplice/parameters/shadow_live)
ok "shadow_live $n right after apply (the reader's cat processes)"
for i in 1 2 3; do
	got=$(grep '^KspliceReads:' /proc/$spin1/status | tr -d ' \t')
	[ "$got" = "KspliceReads:$i" ] || fail "read $i of $spin1: '$got'"
done
ok "per task: reads of $spin1 counted 1, 2, 3"
got=$(grep '^KspliceReads:' /proc/$spin2/status | tr -d ' \t')
[ "$got" = "KspliceReads:1" ] || fail "first read of $spin2: '$got'"
got=$(grep '^KspliceReads:' /proc/$spin1/status | tr -d ' \t')
[ "$got" = "KspliceReads:4" ] || fail "read 4 of $spin1: '$got'"
ok "per task: $spin2 has its own count"
n=$(cat /sys/module/ksplice/parameters/shadow_live)
[ "$n" -ge 2 ] || fail "shadow_live $n, want >= 2"
ok "shadow_live $n while applied"
`,
		after: `
grep -q KspliceReads /proc/$spin1/status && fail "KspliceReads after undo"
ok "undone: no KspliceReads line"
dmesg | grep -E 'freed [0-9]+ shadow variables, 0 live' || fail "no 'freed N shadow variables, 0 live' in the log"
ok "shadow variables freed on undo"
`,
	},
	{
		// A system call through KPATCH_SYSCALL_DEFINE1.
		patch: "kpatch-syscall-newuname",
		funcs: []string{"__do_sys_newuname"},
		during: `
[ "$(uname -v)" = ksplice-kpatch-syscall ] || fail "uname -v: $(uname -v)"
ok "uname -v: $(uname -v)"
`,
		after: `
case "$(uname -v)" in *ksplice*) fail "uname -v after undo: $(uname -v)" ;; esac
ok "uname -v after undo: $(uname -v)"
`,
	},
	{
		// The same change without the macro.
		patch: "syscall-newuname-plain",
		funcs: []string{"__do_sys_newuname"},
		during: `
[ "$(uname -v)" = ksplice-plain-syscall ] || fail "uname -v: $(uname -v)"
ok "uname -v: $(uname -v)"
`,
		after: `
case "$(uname -v)" in *ksplice*) fail "uname -v after undo: $(uname -v)" ;; esac
ok "uname -v after undo: $(uname -v)"
`,
	},
	{
		// A system call whose body gcc inlines into its stubs.
		patch: "syscall-umask-inlined",
		funcs: []string{"__x64_sys_umask", "__ia32_sys_umask"},
		during: `
[ "$(umask)" = 1022 ] || fail "umask: $(umask)"
ok "umask: $(umask)"
`,
		after: `
[ "$(umask)" = 0022 ] || fail "umask after undo: $(umask)"
ok "umask after undo: $(umask)"
`,
	},
	{
		// Load and unload hooks and patch callbacks, no changed function.
		patch:    "kpatch-load-hook",
		funcs:    []string{"kpatch_load", "kpatch_unload"},
		notFuncs: []string{"cmdline_proc_show"},
		during: `
[ "$(cat /proc/sys/kernel/overflowuid)" = 65533 ] || fail "overflowuid $(cat /proc/sys/kernel/overflowuid)"
ok "load hook: overflowuid 65533"
dmesg | grep -q 'kpatch-load-hook: pre-patch callback' || fail "pre-patch callback did not run"
dmesg | grep -q 'kpatch-load-hook: overflowuid 65533' || fail "load hook did not log"
ok "pre-patch callback and load hook ran"
`,
		after: `
[ "$(cat /proc/sys/kernel/overflowuid)" = 65534 ] || fail "overflowuid $(cat /proc/sys/kernel/overflowuid) after undo"
dmesg | grep -q 'kpatch-load-hook: post-unpatch callback, overflowuid 65534' || fail "post-unpatch callback did not see the unload hook's value"
ok "unload hook and post-unpatch callback ran: overflowuid 65534"
`,
	},
	{
		// klp_shadow_* with a constructor; the unload hook frees them
		// all with a destructor.
		patch: "kpatch-shadow-status",
		funcs: []string{"proc_pid_status", "kpatch_shadow_unload"},
		kept:  "kpatch_shadow_dtor",
		during: `
want=$((spin1 * 10))
for i in 0 1 2; do
	got=$(grep '^KpatchShadow:' /proc/$spin1/status | tr -d ' \t')
	[ "$got" = "KpatchShadow:$((want + i))" ] || fail "read $i of $spin1: '$got', want $((want + i))"
done
ok "klp_shadow_get_or_alloc: constructor set $want, reads count on"
`,
		after: `
grep -q KpatchShadow /proc/$spin1/status && fail "KpatchShadow after undo"
dmesg | grep -E 'kpatch-shadow: freed [1-9][0-9]* shadow variables' || fail "the unload hook's klp_shadow_free_all ran no destructor"
ok "unload hook freed the shadow variables"
`,
	},
	{
		// Two changed functions, one left out by KPATCH_IGNORE_FUNCTION.
		patch:    "kpatch-ignore-function",
		funcs:    []string{"proc_pid_personality"},
		notFuncs: []string{"proc_oom_score"},
		during: `
grep -q ' kpatch$' /proc/$spin1/personality || fail "personality: $(cat /proc/$spin1/personality)"
ok "personality: $(cat /proc/$spin1/personality)"
grep -q ignored /proc/$spin1/oom_score && fail "oom_score changed: $(cat /proc/$spin1/oom_score)"
ok "oom_score kept its format: $(cat /proc/$spin1/oom_score)"
`,
		after: `
grep -q kpatch /proc/$spin1/personality && fail "personality after undo"
ok "personality after undo: $(cat /proc/$spin1/personality)"
`,
	},
}

// TestApplyAuthored creates each authored patch, checks what the update
// carries, and applies, observes and undoes it in the lab while two busy
// shells and a reader of /proc/self/status keep the CPUs busy. The updates
// take turns in one boot, each in a subshell of its own; what one leaves
// loaded on purpose (a kept module) the next one's untouched allows.
func TestApplyAuthored(t *testing.T) {
	k := labtest.Kernel(t)
	dir := t.TempDir()
	kmodSrc, err := filepath.Abs("../../kmod-src")
	if err != nil {
		t.Fatal(err)
	}
	files := []lab.File{scriptFile(t)}
	script := ". ./lib.sh\nuntouched\n"
	for _, c := range authored {
		t.Run(c.patch, func(t *testing.T) {
			p, err := srcpatch.ParseFile(filepath.Join("../../testdata/patches", c.patch+".diff"))
			if err != nil {
				t.Fatal(err)
			}
			tar := filepath.Join(dir, c.patch+".tar")
			start := time.Now()
			res, err := create.Create(context.Background(), create.Options{
				Kernel: k, Patch: p, PatchName: c.patch + ".diff", Output: tar, KmodSrc: kmodSrc, Tool: "ksplice test",
			})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			t.Logf("create %s: %v", c.patch, time.Since(start).Round(time.Millisecond))
			var funcs []string
			for _, tg := range res.Manifest.Targets {
				for _, f := range tg.Functions {
					funcs = append(funcs, f.Name)
				}
			}
			for _, f := range c.funcs {
				if !slices.Contains(funcs, f) {
					t.Errorf("update functions %v lack %s", funcs, f)
				}
			}
			for _, f := range c.notFuncs {
				if slices.Contains(funcs, f) {
					t.Errorf("update functions %v include %s", funcs, f)
				}
			}
			final := "untouched"
			if c.kept != "" {
				if keep := strings.Join(res.Manifest.Targets[0].Keep, "\n"); !strings.Contains(keep, "address of "+c.kept) {
					t.Errorf("manifest keep reasons %q do not name %s", keep, c.kept)
				}
				final = `run 0 ksplice list
case "$out" in *reversed-kept*"kept loaded: "*` + c.kept + `*) ok "undone, module kept, listed with the reason" ;; *) fail "not listed as reversed-kept" ;; esac
untouched`
			}
			files = append(files, lab.File{Host: tar, Guest: "/root/" + c.patch + ".tar"})
			script += fmt.Sprintf(`echo "=== %s"
(
sh -c 'while :; do :; done' & spin1=$!
sh -c 'while :; do :; done' & spin2=$!
sh -c 'while :; do cat /proc/self/status >/dev/null; done' & reader=$!
trap 'kill $spin1 $spin2 $reader 2>/dev/null' EXIT
sleep 1
run 0 ksplice apply --allow-unsigned %s
%s
run 0 ksplice undo %s
%s
kill $spin1 $spin2 $reader
trap - EXIT
%s
) || exit 1
`, c.patch, shq(c.patch+".tar"), c.during, shq(res.ID), c.after, final)
		})
	}
	if t.Failed() {
		return
	}
	script += "echo PASS\n"
	out := labtest.Run(t, lab.RunOptions{Files: files, Command: []string{"sh", "-c", script}})
	t.Logf("guest (boot %v, total %v):\n%s", out.Result.Boot.Round(time.Millisecond), out.Result.Total.Round(time.Millisecond), out.Stdout)
	if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
		t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
	}
}
