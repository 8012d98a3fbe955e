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
	m := regexp.MustCompile(`nmi calls (\d+) patched (\d+) wrong (\d+)`).FindStringSubmatch(out.Stdout)
	if m == nil {
		t.Fatal("the NMI module reported no counts")
	}
	calls, _ := strconv.Atoi(m[1])
	patched, _ := strconv.Atoi(m[2])
	if calls == 0 || patched == 0 || patched == calls {
		t.Errorf("NMI calls %d, of which ran the replacement %d: want both versions to have run in NMIs", calls, patched)
	}
	if m[3] != "0" {
		t.Errorf("%s NMI calls answered neither -1 nor -2: torn code ran", m[3])
	}
}
