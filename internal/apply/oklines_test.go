package apply_test

import (
	"slices"
	"testing"
)

// TestOKLines: the "ok: " lines a lab script's checks print, as lib.sh
// prints them, cut at the first shell expansion; other lines give none.
func TestOKLines(t *testing.T) {
	script := `P=/sys/module/x/parameters
load ksplice.ko
stage cmdline-v1 apply
refused scan apply busy
expect "depth $d: names the task" "$(cat $K/scan/abort_message)" "task"
[ -e $K/x ] && fail "exists"
echo "ok: tainted $tainted has 32768"
	expect "in a loop" "$x" y
echo "stack_check: $(cat $K/scan/stack_check)"
stage scan reverse
echo PASS
`
	want := []string{
		"ok: apply cmdline-v1",
		"ok: apply scan refused",
		"ok: depth ",
		"ok: tainted ",
		"ok: in a loop",
		"ok: reverse scan",
	}
	if got := okLines(script); !slices.Equal(got, want) {
		t.Errorf("okLines = %q, want %q", got, want)
	}
}
