# Helpers of the engine's lab tests, sourced by each script (busybox sh).
# Every check prints one "ok: ..." line; a failure prints "FAIL: ...", the
# end of the kernel log, and exits 1. A script that ends prints "PASS".
K=/sys/kernel/ksplice

fail() {
	echo "FAIL: $*"
	dmesg | tail -n 25
	exit 1
}

# expect DESC ACTUAL PATTERN: ACTUAL matches the shell pattern *PATTERN*.
expect() {
	case "$2" in
	*$3*) echo "ok: $1" ;;
	*) fail "$1: got '$2', want '*$3*'" ;;
	esac
}

# stage ID apply|reverse: succeeds, or fails the test with the reason.
stage() {
	echo "$2" > "$K/$1/stage" 2>/dev/null ||
		fail "$2 $1: $(cat "$K/$1/abort_cause"): $(cat "$K/$1/abort_message")"
	echo "ok: $2 $1 (stop_machine $(cat "$K/$1/stop_machine_total_ns") ns," \
		"callback $(cat "$K/$1/stop_machine_ns") ns, $(cat "$K/$1/attempts") attempts)"
}

# refused ID apply|reverse CAUSE: the write fails with abort_cause CAUSE.
refused() {
	if echo "$2" > "$K/$1/stage" 2>/dev/null; then
		fail "$2 $1 succeeded, want $3"
	fi
	expect "$2 $1 refused: $(cat "$K/$1/abort_message")" "$(cat "$K/$1/abort_cause")" "$3"
}

load() {
	insmod "$1" || fail "insmod $1"
}
