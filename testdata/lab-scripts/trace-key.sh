# Guest script of the sched-getaffinity-trace-key sample (sourced after
# lib.sh, with the update as ./u.tar and its id in $ID): the new code's
# tracepoint fires while both its jump labels are on, each flipped by its
# own knob (the event's enable file, kernel.sched_schedstats), and never
# before apply or after undo.
T=/sys/kernel/tracing
[ -e $T/trace ] || mount -t tracefs nodev $T || fail "cannot mount tracefs"

# events: how many sched_process_hang events `taskset -p 1` logs.
events() {
	echo > $T/trace
	taskset -p 1 >/dev/null || fail "taskset -p 1: exit $?"
	grep -c 'sched_process_hang: comm=.* pid=1$' $T/trace
}

# expect WANT WHAT: events prints WANT.
expect() {
	n=$(events)
	[ "$n" = "$1" ] || fail "$2: $n events, want $1"
	ok "$2: $n events"
}

untouched
echo 1 > /proc/sys/kernel/sched_schedstats
echo 1 > $T/events/sched/sched_process_hang/enable
expect 0 "before apply"
run 0 ksplice apply --allow-unsigned u.tar
expect 1 "applied, event on, schedstats on"
echo 0 > /proc/sys/kernel/sched_schedstats
expect 0 "applied, schedstats off"
echo 1 > /proc/sys/kernel/sched_schedstats
expect 1 "applied, schedstats on again"
echo 0 > $T/events/sched/sched_process_hang/enable
expect 0 "applied, event off"
echo 1 > $T/events/sched/sched_process_hang/enable
expect 1 "applied, event on again"
run 0 ksplice undo "$ID"
expect 0 "undone"
untouched
echo 0 > $T/events/sched/sched_process_hang/enable
echo 0 > /proc/sys/kernel/sched_schedstats
