# Helpers of the apply lab tests (busybox sh, in /root of the guest, with
# ksplice in $PATH). Every check prints "ok: ..."; a failure prints
# "FAIL: ...", the end of the kernel log, and exits 1.

fail() {
	echo "FAIL: $*"
	dmesg | tail -n 25
	exit 1
}

ok() { echo "ok: $*"; }

# untouched: no ksplice module is loaded and nothing is recorded as applied.
untouched() {
	# An update module whose new code may have published addresses into
	# it stays loaded after undo, on purpose, and pins the engine
	# (docs/kernel-interface.md, "Undo never frees reachable code"); the
	# engine says so. Any other module left is a failure.
	# $kept_before remembers them across calls: a script that reads
	# the log with dmesg -c clears their lines.
	kept_before=$( (echo $kept_before; dmesg | sed -n 's/.*reversed, module \([a-z0-9_]*\) kept loaded.*/\1/p') | tr ' ' '\n' | sort -u)
	kept=$kept_before
	left=
	for m in $(lsmod | awk '/^ksplice/ {print $1}'); do
		case " $(echo $kept) " in
		*" $m "*) continue ;;
		esac
		[ "$m" = ksplice ] && [ -n "$kept" ] && continue
		left="$left $m"
	done
	if [ -n "$left" ]; then
		fail "ksplice modules loaded:$left ($(lsmod | grep '^ksplice' | tr '\n' ' '))"
	fi
	l=$(ksplice list --json) || fail "ksplice list: exit $?"
	# ksplice list shows a kept module's update as reversed-kept.
	ids=$(echo "$l" | grep -c '"id"')
	nkept=$(echo "$l" | grep -c '"stage": "reversed-kept"')
	[ "$ids" -gt "$nkept" ] && fail "ksplice list is not empty: $l"
	ok "untouched: no ksplice module, nothing applied"
}

# run CODE CMD...: runs CMD, prints its output between markers (and keeps it
# in $out), and checks that it exits with CODE.
run() {
	local code=$1 rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	echo "--- $* (exit $rc)"
	echo "$out"
	echo "---"
	[ "$rc" = "$code" ] || fail "$*: exit $rc, want $code"
}

# observe TAR ID READ WANT: READ (a command) does not print WANT before the
# update is applied, prints it after, and does not after undo; the whole
# output before and after undo is the same.
observe() {
	local tar=$1 id=$2 read=$3 want=$4 before after restored
	untouched
	before=$(eval "$read")
	case "$before" in *"$want"*) fail "$id: before apply, '$read' already shows '$want'" ;; esac
	run 0 ksplice apply --allow-unsigned "$tar"
	after=$(eval "$read")
	echo "after apply: $after"
	case "$after" in *"$want"*) ok "$id: applied: '$read' shows '$want'" ;;
	*) fail "$id: after apply, '$read' is '$after', want '*$want*'" ;; esac
	run 0 ksplice list --json
	case "$out" in *"\"id\": \"$id\""*) ok "$id: listed" ;; *) fail "$id: not in ksplice list" ;; esac
	lsmod | grep -q "^ksplice_$id" || fail "$id: update module not loaded"
	run 0 ksplice undo "$id"
	restored=$(eval "$read")
	[ "$restored" = "$before" ] || fail "$id: after undo, '$read' is '$restored', want '$before'"
	ok "$id: undone: '$read' restored"
	untouched
}
