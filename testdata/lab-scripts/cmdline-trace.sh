# Guest script of the proc-cmdline-tracepoint sample (sourced after lib.sh,
# with the update as ./u.tar and its id in $ID): reading /proc/cmdline
# logs a sched_process_hang event only while the update is applied and the
# event is enabled.
T=/sys/kernel/tracing
[ -e $T/trace ] || mount -t tracefs nodev $T || fail "cannot mount tracefs"

# expect WANT WHAT: reading /proc/cmdline logs WANT events.
expect() {
	echo > $T/trace
	cat /proc/cmdline >/dev/null
	n=$(grep -c 'sched_process_hang: comm=cat ' $T/trace)
	[ "$n" = "$1" ] || fail "$2: $n events, want $1"
	ok "$2: $n events"
}

untouched
echo 1 > $T/events/sched/sched_process_hang/enable
expect 0 "before apply"
run 0 ksplice apply --allow-unsigned u.tar
expect 1 "applied, event on"
echo 0 > $T/events/sched/sched_process_hang/enable
expect 0 "applied, event off"
echo 1 > $T/events/sched/sched_process_hang/enable
expect 1 "applied, event on again"
run 0 ksplice undo "$ID"
expect 0 "undone"
untouched
echo 0 > $T/events/sched/sched_process_hang/enable
