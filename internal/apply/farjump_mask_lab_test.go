package apply_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/labtest"
)

// farjumpMaskScript: the engine loaded with every jump in its long form
// and masking SDEI events failing on the CPUs that follow the writer
// (test_only_nmi_mask_fail=follower, as firmware that refuses
// SDEI_PE_MASK would make it). The update (UPDATE) both redirects
// cmdline_proc_show() through ftrace and writes a long jump over
// generate_random_uuid(). Apply is refused naming the CPU and changes
// neither; with the failure cleared the same update applies; with the
// writer's mask failing, undo is refused and the update stays applied
// and running; cleared, undo goes through.
const farjumpMaskScript = `. ./lib.sh
U=/proc/sys/kernel/random/uuid
P=/sys/module/ksplice/parameters/test_only_nmi_mask_fail
random() { case "$(cat $U)" in 5a5a5a5a-*) return 1 ;; esac; return 0; }
fixed() { [ "$(cat $U)" = 5a5a5a5a-5a5a-4a5a-9a5a-5a5a5a5a5a5a ]; }
patched() { grep -q 'ksplice=patched$' /proc/cmdline; }
peek() { echo "peek $1: $(/root/kpeek generate_random_uuid 16)"; }
untouched
peek before
insmod ksplice.ko 'test_only_long_jump=*' 'test_only_nmi_mask_fail=follower' || fail "insmod ksplice.ko"
run 3 ksplice apply --allow-unsigned UPDATE.tar
case "$out" in *nmi_mask*"CPU "[0-9]*" could not mask SDEI events"*"nothing was changed"*) ok "apply refused, a follower named" ;; *) fail "apply: $out" ;; esac
random || fail "the refused apply wrote the jump: $(cat $U)"
patched && fail "the refused apply switched the ftrace redirect: $(cat /proc/cmdline)"
lsmod | grep -q '^ksplice_UPDATE' && fail "the refused update is still loaded"
peek refused
echo > $P
run 0 ksplice apply --allow-unsigned UPDATE.tar
fixed || fail "applied: $(cat $U)"
patched || fail "applied: $(cat /proc/cmdline)"
ok "applied once the mask works: $(cat $U)"
peek applied
echo writer > $P
run 3 ksplice undo UPDATE
case "$out" in *nmi_mask*"CPU "[0-9]*" could not mask SDEI events"*) ok "undo refused, the writer named" ;; *) fail "undo: $out" ;; esac
fixed || fail "the refused undo took the jump out: $(cat $U)"
patched || fail "the refused undo switched the ftrace redirect back: $(cat /proc/cmdline)"
peek undorefused
echo > $P
run 0 ksplice undo UPDATE
random || fail "undone: $(cat $U)"
patched && fail "undone: $(cat /proc/cmdline)"
ok "undone: $(cat $U)"
peek after
rmmod ksplice
untouched
echo PASS
`

// TestNoFtraceLongJumpMaskFails: a round that writes a jump of several
// words (arm64's adrp/add/br) must change nothing when any CPU cannot
// mask SDEI events, the NMI-like entry that could run the window half
// written: no ftrace switch, no word written, the refusal naming the CPU
// (nmi_mask), on apply (a follower's mask failing) and on undo (the
// writer's). The lab has no SDEI firmware, so the failure is injected by
// the engine's test parameter. The guest checks behaviour (the uuid and
// /proc/cmdline); here the words: the window after each refusal equals
// what it held before. The engine WARNs, failing the run, if any mask
// is left undone after a round.
func TestNoFtraceLongJumpMaskFails(t *testing.T) {
	if labtest.Enabled() && !slices.Contains(labtest.Kernels(), arm64Kernel) {
		t.Skip("arm64 lab test: list " + arm64Kernel + " in KSPLICE_LAB_KERNELS, or set KSPLICE_LAB_ARM64=1")
	}
	const id = "both"
	out := runOneLongJump(t, "uuid-cmdline-jump-and-ftrace", id, strings.ReplaceAll(farjumpMaskScript, "UPDATE", id))
	peeks := readPeeks(t, out.Stdout, "generate_random_uuid", "before", "refused", "applied", "undorefused", "after")
	if !slices.Equal(peeks["refused"], peeks["before"]) {
		t.Errorf("the refused apply left %08x, the function was %08x", peeks["refused"], peeks["before"])
	}
	if !slices.Equal(peeks["undorefused"], peeks["applied"]) {
		t.Errorf("the refused undo left %08x, the jump was %08x", peeks["undorefused"], peeks["applied"])
	}
	if _, _, err := longJump(0, peeks["before"], peeks["applied"]); err != nil {
		t.Errorf("applied: %v", err)
	}
	for _, want := range []string{"ok: apply refused, a follower named", "ok: undo refused, the writer named"} {
		if !strings.Contains(out.Stdout, want) {
			t.Errorf("no %q in the guest's output", want)
		}
	}
}
