package apply_test

import (
	"context"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// Functions without an ftrace site (lib/ and kernel/trace/ are built
// without -pg on Debian) are diverted by a direct jump over their entry
// (kmod-src/ksplice_text.c). These tests replace generate_random_uuid()
// (lib/uuid.c), which /proc/sys/kernel/random/uuid calls.

// noftraceScript: the update applies and shows (a fixed uuid, listed as a
// jump); a second update stacked on it rewrites the jump and is undone
// first; then a kprobe on the function (a test module's: tracefs' kprobe
// events refuse notrace functions), before apply (refused naming the
// kprobe) and after it (the kprobe fires over the jump, calls still reach
// the replacement, and undo is refused naming it until the kprobe is
// gone).
const noftraceScript = `. ./lib.sh
U=/proc/sys/kernel/random/uuid
random() { case "$(cat $U)" in 5a5a5a5a-*|6b6b6b6b-*) return 1 ;; esac; return 0; }
untouched
random || fail "before apply: $(cat $U)"
ok "before apply: $(cat $U)"
run 0 ksplice apply --allow-unsigned jump1.tar
[ "$(cat $U)" = 5a5a5a5a-5a5a-4a5a-9a5a-5a5a5a5a5a5a ] || fail "applied: $(cat $U)"
ok "applied: $(cat $U)"
run 0 ksplice list
case "$out" in *"generate_random_uuid[jump]"*) ok "listed as a jump" ;; *) fail "list does not show the jump" ;; esac
run 0 ksplice list --json
case "$out" in *'"method": "jump"'*) ok "json: method jump" ;; *) fail "list --json has no method jump" ;; esac

run 0 ksplice apply --allow-unsigned jump2.tar
[ "$(cat $U)" = 6b6b6b6b-6b6b-4b6b-ab6b-6b6b6b6b6b6b ] || fail "stacked: $(cat $U)"
ok "stacked: $(cat $U)"
run 3 ksplice undo jump1
case "$out" in *not_last*) ok "first undo refused while the second is applied" ;; *) fail "undo jump1 under jump2: want not_last" ;; esac
run 0 ksplice undo jump2
[ "$(cat $U)" = 5a5a5a5a-5a5a-4a5a-9a5a-5a5a5a5a5a5a ] || fail "stacked undone: $(cat $U)"
ok "stacked undone: $(cat $U)"
run 0 ksplice undo jump1
random || fail "undone: $(cat $U)"
ok "undone: $(cat $U)"
untouched

# A kprobe first: its int3 (or its optimized jump) is where the jump goes.
insmod ksplice_test_kprobe.ko sym=generate_random_uuid || fail "insmod ksplice_test_kprobe.ko"
cat $U >/dev/null
sleep 1
run 3 ksplice apply --allow-unsigned jump1.tar
case "$out" in *"is probed: a kprobe at generate_random_uuid+0x"*"ksplice_test_kprobe"*) ok "refused: kprobe named" ;;
*) fail "apply over a kprobe: want it refused naming the kprobe" ;; esac
random || fail "refused, yet: $(cat $U)"
rmmod ksplice_test_kprobe || fail "rmmod ksplice_test_kprobe"
untouched

# The update first: the kprobe goes over the jump, and emulates it.
run 0 ksplice apply --allow-unsigned jump1.tar
insmod ksplice_test_kprobe.ko sym=generate_random_uuid || fail "insmod ksplice_test_kprobe.ko over the jump"
sleep 1
[ "$(cat $U)" = 5a5a5a5a-5a5a-4a5a-9a5a-5a5a5a5a5a5a ] || fail "probed: $(cat $U)"
ok "probed over the jump: $(cat $U)"
run 3 ksplice undo jump1
case "$out" in *"code_changed"*"a kprobe at generate_random_uuid+0x"*"ksplice_test_kprobe"*) ok "undo refused: kprobe named" ;;
*) fail "undo under a kprobe: want it refused naming the kprobe" ;; esac
[ "$(cat $U)" = 5a5a5a5a-5a5a-4a5a-9a5a-5a5a5a5a5a5a ] || fail "undo refused, yet: $(cat $U)"
rmmod ksplice_test_kprobe || fail "rmmod ksplice_test_kprobe over the jump"
h=$(dmesg | sed -n 's/.*kprobe on generate_random_uuid: \([0-9]*\) hits.*/\1/p' | tail -1)
[ "${h:-0}" -ge 2 ] || fail "the kprobe over the jump did not fire: ${h:-no} hits"
ok "the kprobe over the jump fired: $h hits"
run 0 ksplice undo jump1
random || fail "undone after the kprobe: $(cat $U)"
ok "undone after the kprobe: $(cat $U)"
untouched
echo PASS
`

// TestApplyNoFtraceJump creates the uuid-fixed-jump update and one stacked
// on it, and runs noftraceScript in one boot. labtest.Run fails the test
// on any oops or WARN in the console.
func TestApplyNoFtraceJump(t *testing.T) {
	k := labtest.Kernel(t)
	amd64Only(t, k, "the sample patch and the kprobe are checked on x86-64")
	kmodSrc, _ := filepath.Abs("../../kmod-src")
	dir := t.TempDir()
	read := func(name string) *srcpatch.Patch {
		p, err := srcpatch.ParseFile(filepath.Join("../../testdata/patches", name+".diff"))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	kp := buildTestdataModule(t, k, dir, "noftrace/kprobe", "ksplice_test_kprobe.c")
	files := []lab.File{scriptFile(t), {Host: kp, Guest: "/root/ksplice_test_kprobe.ko"}}
	for i, c := range []struct {
		patch string
		after []*srcpatch.Patch
	}{
		{"uuid-fixed-jump", nil},
		{"uuid-fixed-jump-stacked", []*srcpatch.Patch{read("uuid-fixed-jump")}},
	} {
		id := "jump" + strconv.Itoa(i+1)
		out := filepath.Join(dir, id+".tar")
		if _, err := create.Create(context.Background(), create.Options{Kernel: k, Patch: read(c.patch), PatchName: c.patch,
			After: c.after, ID: id, Output: out, KmodSrc: kmodSrc}); err != nil {
			t.Fatalf("create %s: %v", c.patch, err)
		}
		files = append(files, lab.File{Host: out, Guest: "/root/" + id + ".tar"})
	}
	out := labtest.Run(t, lab.RunOptions{Kernel: k, Timeout: 20 * time.Minute, Files: files,
		Command: []string{"sh", "-c", noftraceScript}})
	t.Logf("guest (boot %v, total %v):\n%s", out.Result.Boot.Round(time.Millisecond), out.Result.Total.Round(time.Millisecond), out.Stdout)
	if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
		t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
	}
}

// noftraceNMIScript: reverse/apply rounds of an update of hex_to_bin()
// (lib/hexdump.c, no ftrace site) while a test module calls it from NMIs
// on the other CPU; the counts say whether NMIs ran both versions.
const noftraceNMIScript = `. ./lib.sh
fn=$(grep ' hex_to_bin$' /proc/kallsyms | cut -d' ' -f1)
[ -n "$fn" ] || fail "hex_to_bin not in kallsyms"
insmod ksplice_test_nmi_hex.ko fn=0x$fn || fail "insmod ksplice_test_nmi_hex.ko"
run 0 ksplice apply --allow-unsigned hex.tar
S=/sys/kernel/ksplice/hex/stage
n=0
while [ $n -lt CYCLES ]; do
	echo reverse > $S || fail "reverse $n: $(cat /sys/kernel/ksplice/hex/abort_message)"
	echo apply > $S || fail "apply $n: $(cat /sys/kernel/ksplice/hex/abort_message)"
	n=$((n+1))
done
ok "cycles $n"
rmmod ksplice_test_nmi_hex || fail "rmmod ksplice_test_nmi_hex"
dmesg | grep 'ksplice_test_nmi_hex: nmi calls' | tail -1
run 0 ksplice undo hex
untouched
dmesg | grep 'int3 traps of direct jumps' | tail -1
echo PASS
`

// TestNoFtraceJumpNMI: reverse/apply rounds (100, or $KSPLICE_SOAK_CYCLES)
// of the hex-to-bin-jump update while the replaced function runs in NMI
// context on the other CPU, about every millisecond. Every write of the
// jump happens with an int3 first; an NMI that meets it is sent to the
// replacement by the engine's int3 handler. The console must stay clean,
// and the NMIs must have run both versions.
func TestNoFtraceJumpNMI(t *testing.T) {
	k := labtest.Kernel(t)
	amd64Only(t, k, "the test module sends NMIs with the x86 local APIC")
	dir := t.TempDir()
	nmi := buildTestdataModule(t, k, dir, "noftrace/nmi", "ksplice_test_nmi_hex.c")
	tar := sampleUpdate(t, k, dir, "hex-to-bin-jump", "hex")
	cycles := soakCycles(t, 100)
	out := labtest.Run(t, lab.RunOptions{Kernel: k, Timeout: 20 * time.Minute, Files: []lab.File{
		scriptFile(t),
		{Host: nmi, Guest: "/root/ksplice_test_nmi_hex.ko"},
		{Host: tar, Guest: "/root/hex.tar"},
	}, Command: []string{"sh", "-c", strings.ReplaceAll(noftraceNMIScript, "CYCLES", strconv.Itoa(cycles))}})
	t.Logf("guest (boot %v, total %v):\n%s", out.Result.Boot.Round(time.Millisecond), out.Result.Total.Round(time.Millisecond), out.Stdout)
	if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
		t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
	}
	calls, patched := nmiHexCounts(t, out.Stdout)
	if calls == 0 || patched == 0 || patched == calls {
		t.Errorf("NMI calls %d, of which ran the replacement %d: want both versions to have run in NMIs", calls, patched)
	}
}

// nmiHexCounts reads the counts ksplice_test_nmi_hex logs when it is
// removed: its NMI handler's calls of hex_to_bin() and those that ran the
// replacement. A call that answered neither version's result fails t.
func nmiHexCounts(t *testing.T, stdout string) (calls, patched int) {
	t.Helper()
	m := regexp.MustCompile(`nmi calls (\d+) patched (\d+) wrong (\d+)`).FindStringSubmatch(stdout)
	if m == nil {
		t.Fatal("the NMI module reported no counts")
	}
	if m[3] != "0" {
		t.Errorf("%s NMI calls answered neither -1 nor -2: torn code ran", m[3])
	}
	calls, _ = strconv.Atoi(m[1])
	patched, _ = strconv.Atoi(m[2])
	return calls, patched
}

// noftraceInt3Script: the engine of the update is loaded first with its
// test-only hook, which sends an NMI to the other CPU inside each int3
// window of every direct jump write and waits for it to trap; the test
// module's NMI handler calls hex_to_bin(). Apply, reverse/apply rounds and
// undo, then the engine's per-round counts and the module's.
const noftraceInt3Script = `. ./lib.sh
fn=$(grep ' hex_to_bin$' /proc/kallsyms | cut -d' ' -f1)
[ -n "$fn" ] || fail "hex_to_bin not in kallsyms"
insmod ksplice_test_nmi_hex.ko fn=0x$fn || fail "insmod ksplice_test_nmi_hex.ko"
# apply uses the engine that is loaded.
insmod ksplice.ko test_only_nmi_in_jump_write=1 || fail "insmod ksplice.ko test_only_nmi_in_jump_write=1"
run 0 ksplice apply --allow-unsigned hex.tar
S=/sys/kernel/ksplice/hex/stage
n=0
while [ $n -lt CYCLES ]; do
	echo reverse > $S || fail "reverse $n: $(cat /sys/kernel/ksplice/hex/abort_message)"
	echo apply > $S || fail "apply $n: $(cat /sys/kernel/ksplice/hex/abort_message)"
	n=$((n+1))
done
ok "cycles $n"
run 0 ksplice undo hex
lsmod | grep -q '^ksplice ' && rmmod ksplice
rmmod ksplice_test_nmi_hex || fail "rmmod ksplice_test_nmi_hex"
dmesg | grep -E 'hex: (apply|reverse): int3 windows:|ksplice_test_nmi_hex: nmi calls|int3 traps of direct jumps'
untouched
echo PASS
`

// TestNoFtraceJumpInt3: the int3 handler of direct jump writes
// (ksplice_text_int3()) really runs. The engine's test-only hook
// (test_only_nmi_in_jump_write) makes an NMI on the other CPU call
// hex_to_bin() while its window holds the int3, on apply and on reverse
// (the undo's and each cycle's): every round must report trapped NMIs, no
// NMI call may answer anything but the old (-1) or new (-2) result, and
// the console must stay clean (labtest.Run fails on an oops or WARN: an
// int3 nobody handles in an NMI is a kernel die()).
func TestNoFtraceJumpInt3(t *testing.T) {
	k := labtest.Kernel(t)
	amd64Only(t, k, "the int3 sequence and the test module's NMIs are x86's")
	dir := t.TempDir()
	nmi := buildTestdataModule(t, k, dir, "noftrace/nmi", "ksplice_test_nmi_hex.c")
	tar := sampleUpdate(t, k, dir, "hex-to-bin-jump", "hex")
	eng := filepath.Join(dir, "ksplice.ko")
	if err := extractEngine(tar, eng); err != nil {
		t.Fatal(err)
	}
	cycles := soakCycles(t, 5)
	out := labtest.Run(t, lab.RunOptions{Kernel: k, Timeout: 20 * time.Minute, Files: []lab.File{
		scriptFile(t),
		{Host: nmi, Guest: "/root/ksplice_test_nmi_hex.ko"},
		{Host: tar, Guest: "/root/hex.tar"},
		{Host: eng, Guest: "/root/ksplice.ko"},
	}, Command: []string{"sh", "-c", strings.ReplaceAll(noftraceInt3Script, "CYCLES", strconv.Itoa(cycles))}})
	t.Logf("guest (boot %v, total %v):\n%s", out.Result.Boot.Round(time.Millisecond), out.Result.Total.Round(time.Millisecond), out.Stdout)
	if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
		t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
	}
	// One line per round: the first apply, a reverse and an apply per
	// cycle, the undo's reverse.
	rounds := map[string]int{}
	sent, trapped := map[string]int{}, map[string]int{}
	for _, m := range regexp.MustCompile(`hex: (apply|reverse): int3 windows: (\d+) NMIs sent, (\d+) trapped`).FindAllStringSubmatch(out.Stdout, -1) {
		s, _ := strconv.Atoi(m[2])
		n, _ := strconv.Atoi(m[3])
		rounds[m[1]]++
		sent[m[1]] += s
		trapped[m[1]] += n
		if n == 0 {
			t.Errorf("a %s round sent %d NMIs into its int3 windows and none trapped", m[1], s)
		}
	}
	for dir, want := range map[string]int{"apply": cycles + 1, "reverse": cycles + 1} {
		if rounds[dir] != want {
			t.Errorf("%d %s rounds reported int3 windows, want %d", rounds[dir], dir, want)
		}
		t.Logf("%s: %d rounds, %d NMIs sent into int3 windows, %d trapped and sent on", dir, rounds[dir], sent[dir], trapped[dir])
	}
	if _, p := nmiHexCounts(t, out.Stdout); p < trapped["apply"]+trapped["reverse"] {
		t.Errorf("NMI calls that ran the replacement: %d, fewer than the %d trapped ones the int3 handler sent there", p, trapped["apply"]+trapped["reverse"])
	}
}
