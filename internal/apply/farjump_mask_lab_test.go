package apply_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/labtest"
)

// farjumpMaskScript: the engine loaded with every jump in its long form
// and masking SDEI events failing on one CPU (test_only_nmi_mask_fail, as
// firmware that refuses SDEI_PE_MASK would make it). Apply is refused
// naming the CPU and changes nothing; with the failure cleared the same
// update applies; with it set again (the other CPU) undo is refused and
// the update stays applied and running; cleared, undo goes through.
const farjumpMaskScript = `. ./lib.sh
U=/proc/sys/kernel/random/uuid
P=/sys/module/ksplice/parameters/test_only_nmi_mask_fail
random() { case "$(cat $U)" in 5a5a5a5a-*) return 1 ;; esac; return 0; }
fixed() { [ "$(cat $U)" = 5a5a5a5a-5a5a-4a5a-9a5a-5a5a5a5a5a5a ]; }
peek() { echo "peek $1: $(/root/kpeek generate_random_uuid 16)"; }
untouched
peek before
insmod ksplice.ko 'test_only_long_jump=*' 'test_only_nmi_mask_fail=1' || fail "insmod ksplice.ko"
run 3 ksplice apply --allow-unsigned jump1.tar
case "$out" in *nmi_mask*"CPU 1 could not mask SDEI events"*"nothing was changed"*) ok "apply refused, CPU 1 named" ;; *) fail "apply: $out" ;; esac
random || fail "the refused apply changed the function: $(cat $U)"
lsmod | grep -q '^ksplice_jump1' && fail "the refused update is still loaded"
peek refused
echo -1 > $P
run 0 ksplice apply --allow-unsigned jump1.tar
fixed || fail "applied: $(cat $U)"
ok "applied once the mask works: $(cat $U)"
peek jump1
echo 0 > $P
run 3 ksplice undo jump1
case "$out" in *nmi_mask*"CPU 0 could not mask SDEI events"*) ok "undo refused, CPU 0 named" ;; *) fail "undo: $out" ;; esac
fixed || fail "the refused undo changed the function: $(cat $U)"
peek undorefused
echo -1 > $P
run 0 ksplice undo jump1
random || fail "undone: $(cat $U)"
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
// (nmi_mask), on apply and on undo, whichever CPU writes. The lab has no
// SDEI firmware, so the failure is injected by the engine's test
// parameter. The guest checks behaviour (the uuid); here the words: the
// window after each refusal equals what it held before.
func TestNoFtraceLongJumpMaskFails(t *testing.T) {
	if labtest.Enabled() && !slices.Contains(labtest.Kernels(), arm64Kernel) {
		t.Skip("arm64 lab test: list " + arm64Kernel + " in KSPLICE_LAB_KERNELS, or set KSPLICE_LAB_ARM64=1")
	}
	out := runOneLongJump(t, "uuid-fixed-jump", "jump1", farjumpMaskScript)
	peeks := readPeeks(t, out.Stdout, "generate_random_uuid", "before", "refused", "jump1", "undorefused", "after")
	if !slices.Equal(peeks["refused"], peeks["before"]) {
		t.Errorf("the refused apply left %08x, the function was %08x", peeks["refused"], peeks["before"])
	}
	if !slices.Equal(peeks["undorefused"], peeks["jump1"]) {
		t.Errorf("the refused undo left %08x, the jump was %08x", peeks["undorefused"], peeks["jump1"])
	}
	if _, _, err := longJump(0, peeks["before"], peeks["jump1"]); err != nil {
		t.Errorf("applied: %v", err)
	}
	if !strings.Contains(out.Stdout, "ok: undo refused, CPU 0 named") {
		t.Errorf("no refused undo in the guest's output")
	}
}
