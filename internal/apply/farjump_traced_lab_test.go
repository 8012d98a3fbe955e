package apply_test

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/labtest"
)

// farjumpTracedScript: ring-buffer-reserve-cap replaces
// ring_buffer_lock_reserve(), which the function tracer calls for every
// event it records, with the long form of the direct jump forced
// (test_only_long_jump=rbcap) and the function tracer on for every
// function: every traced call on the way of the write (the engine's own
// functions, the kernel's text patching) reaches the function whose
// window is being written. A 600-byte trace_marker write shows which
// version reserves events (the replacement refuses events over 512 bytes:
// EBADF).
const farjumpTracedScript = `. ./lib.sh
T=/sys/kernel/tracing
[ -e $T/trace_marker ] || mount -t tracefs nodev $T || fail "no tracefs"
# Every write to tracefs from a child process: a task that recorded an
# event keeps stale return addresses into ring_buffer_lock_reserve() on
# its stack, which the engine's conservative stack check (arm64: every
# word) takes for a call in progress.
printf '%600s' x > /root/big
printf 'ksplice-marker\n' > /root/small
big() { dd if=/root/big of=$T/trace_marker bs=600 count=1 2>/dev/null; }
peek() { echo "peek $1: $(/root/kpeek ring_buffer_lock_reserve 16)"; }
# records STEP: the tracer recorded calls during the round just done
# (none for "before"; after undo the engine is unloaded, and the trace
# shows its functions as addresses), and records a marker. Read with
# tracing off, so that reading does not overwrite what it reads.
records() {
	sh -c "echo 0 > $T/tracing_on"
	f=$(grep -c ' <-' $T/trace)
	if [ "$1" != before ]; then
		[ "$f" -ge 1 ] || fail "$1: the function tracer recorded no call"
		grep ' <-' $T/trace | sed 's/.* \([^ ]*\) <-.*/\1/' | sort | uniq -c | sort -rn | head -n 12 | sed "s/^/$1 calls: /"
	fi
	sh -c "echo > $T/trace; echo 1 > $T/tracing_on" || fail "$1: clear the trace"
	dd if=/root/small of=$T/trace_marker 2>/dev/null || fail "$1: a short marker refused"
	sh -c "echo 0 > $T/tracing_on"
	grep -q ksplice-marker $T/trace || fail "$1: the marker is not in the trace"
	sh -c "echo > $T/trace; echo 1 > $T/tracing_on"
	ok "$1: the tracer recorded $f calls, and records a marker"
}
untouched
peek before
insmod ksplice.ko 'test_only_long_jump=rbcap' || fail "insmod ksplice.ko test_only_long_jump=rbcap"
FILTER
sh -c "echo function > $T/current_tracer" || fail "current_tracer"
records before
big || fail "before apply: a 600-byte marker refused"
ok "before apply: a 600-byte marker recorded"
run 0 ksplice apply --allow-unsigned rbcap.tar
ok "applied with the function tracer on"
records applied
big && fail "applied: a 600-byte marker accepted"
ok "applied: a 600-byte marker refused"
peek rbcap
grep -w ring_buffer_lock_reserve /proc/kallsyms | sed 's/^/sym /'
grep '\[ksplice_rbcap' /proc/kallsyms | sed 's/^/sym /'
run 0 ksplice undo rbcap
ok "undone with the function tracer on"
records undone
big || fail "undone: a 600-byte marker refused"
ok "undone: a 600-byte marker recorded"
peek after
sh -c "echo nop > $T/current_tracer"
sh -c "echo > $T/set_ftrace_filter"
lsmod | grep -q '^ksplice ' && rmmod ksplice
untouched
echo PASS
`

// farjumpTracedCallback sets the function tracer's filter to every
// traceable function the engine runs in its stop_machine callback
// (ksplice_arch_poke_stopped and ksplice_arch_sync_core ran between the
// words of a jump before they were made notrace; names the engine does
// not have or made notrace are left out, and listed).
const farjumpTracedCallback = `for f in ksplice_round_all_cpus ksplice_round_stopped ksplice_check_stacks ksplice_text_check ksplice_ftrace_switch ksplice_text_write ksplice_text_follow ksplice_arch_mask_nmi ksplice_arch_unmask_nmi ksplice_arch_sync_core ksplice_arch_poke_stopped ksplice_arch_poke_alias; do
	if sh -c "echo $f >> $T/set_ftrace_filter" 2>/dev/null; then echo "traced: $f"; else echo "not traceable: $f"; fi
done
grep -q . $T/set_ftrace_filter || fail "no engine function in the callback is traceable"
`

// TestNoFtraceLongJumpTraced: the long form of a direct jump written over
// ring_buffer_lock_reserve() while the function tracer traces every
// function. Between the first and the last word of the long form, the
// window holds neither the old code nor the jump; a traced call made on
// the way of the write (by the writer or by a CPU waiting in the
// stop_machine callback) records an event through
// ring_buffer_lock_reserve(), and runs that half-written window. The
// engine calls nothing traceable or probeable there (a writable alias
// mapped before stop_machine, cache maintenance inline, notrace and
// NOKPROBE_SYMBOL on its path). Checked: applied and undone with the
// tracer on, the replacement's effect seen while applied (a 600-byte
// trace_marker write refused) and not after, the tracer still recording
// at each step, the window holding the long form to the replacement and
// the original words after undo; labtest.Run fails the test on any
// oops, BUG or WARNING in the console.
func TestNoFtraceLongJumpTraced(t *testing.T) {
	if labtest.Enabled() && !slices.Contains(labtest.Kernels(), arm64Kernel) {
		t.Skip("arm64 lab test: list " + arm64Kernel + " in KSPLICE_LAB_KERNELS, or set KSPLICE_LAB_ARM64=1")
	}
	out := runOneLongJump(t, "ring-buffer-reserve-cap", "rbcap", strings.Replace(farjumpTracedScript, "FILTER", farjumpTracedCallback, 1))
	peeks := readPeeks(t, out.Stdout, "ring_buffer_lock_reserve", "before", "rbcap", "after")
	// The function in vmlinux, and the text symbols of the update
	// module, one of which is the replacement.
	var site uint64
	repl := map[uint64]string{}
	for _, m := range regexp.MustCompile(`(?m)^sym ([0-9a-f]+) ([tT]) (\S+)(?:\s+\[(\w+)\])?$`).FindAllStringSubmatch(out.Stdout, -1) {
		a, _ := strconv.ParseUint(m[1], 16, 64)
		switch {
		case m[4] == "" && m[3] == "ring_buffer_lock_reserve":
			site = a
		case strings.Contains(m[4], "rbcap"):
			repl[a] = m[3]
		}
	}
	if site == 0 || len(repl) == 0 {
		t.Fatalf("ring_buffer_lock_reserve or the update module's text not in kallsyms output (%#x, %v)", site, repl)
	}
	off, dest, err := longJump(site, peeks["before"], peeks["rbcap"])
	if err != nil {
		t.Fatalf("applied: %v", err)
	}
	// At the replacement's entry, or after its paciasp when the window
	// follows the old function's.
	name, ok := repl[dest]
	if !ok {
		name, ok = repl[dest-4]
	}
	if !ok {
		t.Errorf("the long jump at +%#x goes to %#x, no function entry of the update module: %v", off, dest, repl)
	} else {
		t.Logf("long jump at ring_buffer_lock_reserve+%#x to %#x (%s in the update module, %d MiB from the function)", off, dest, name, int64(dest-site)>>20)
	}
}
