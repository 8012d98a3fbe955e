# Guest script of the signal-generate-static-call sample (sourced after
# lib.sh, with the update as ./u.tar and its id in $ID): the
# signal_generate event of a kill shows res=65 (64 + TRACE_SIGNAL_IGNORED:
# the sleeper ignores SIGUSR1) only while the update is
# applied.
T=/sys/kernel/tracing
[ -e $T/trace ] || mount -t tracefs nodev $T || fail "cannot mount tracefs"

# res: the res= field of the event that `kill -USR1` of a sleeper logs.
res() {
	sh -c 'trap "" USR1; sleep 30' & pid=$!
	sleep 1
	echo > $T/trace
	kill -USR1 $pid
	kill $pid
	grep "signal_generate: sig=10 .* pid=$pid " $T/trace | sed -n 's/.* res=\([0-9]*\).*/\1/p' | head -n 1
}

# expect WANT WHAT: res prints WANT.
expect() {
	r=$(res)
	[ "$r" = "$1" ] || fail "$2: res=$r, want $1"
	ok "$2: res=$r"
}

untouched
echo 1 > $T/events/signal/signal_generate/enable
expect 1 "before apply"
run 0 ksplice apply --allow-unsigned u.tar
expect 65 "applied"
run 0 ksplice undo "$ID"
expect 1 "undone"
untouched
echo 0 > $T/events/signal/signal_generate/enable
