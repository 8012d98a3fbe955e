# ftrace keeps working on a replaced function: the function tracer's
# ftrace_ops and the engine's IPMODIFY one share the old function's site;
# the call is traced, then sent on to the replacement.
# Files: lib.sh ksplice.ko ksplice_cmdline_v1_vmlinux.ko
. ./lib.sh
T=/sys/kernel/tracing
load ksplice.ko
load ksplice_cmdline_v1_vmlinux.ko
stage cmdline-v1 apply
echo cmdline_proc_show > $T/set_ftrace_filter || fail "set_ftrace_filter"
echo function > $T/current_tracer || fail "current_tracer"
echo > $T/trace
expect "traced call still patched" "$(cat /proc/cmdline)" "ksplice-v1: "
expect "function tracer saw it" "$(cat $T/trace)" "cmdline_proc_show"
echo nop > $T/current_tracer
echo > $T/set_ftrace_filter
stage cmdline-v1 reverse
# Tracing while the original function is restored, then apply while traced.
echo cmdline_proc_show > $T/set_ftrace_filter
echo function > $T/current_tracer || fail "current_tracer"
stage cmdline-v1 apply
echo > $T/trace
expect "applied while traced" "$(cat /proc/cmdline)" "ksplice-v1: "
expect "traced after apply" "$(cat $T/trace)" "cmdline_proc_show"
stage cmdline-v1 reverse
echo nop > $T/current_tracer
expect "restored" "$(cat /proc/cmdline)" "console="
rmmod ksplice_cmdline_v1_vmlinux || fail "rmmod update"
rmmod ksplice || fail "rmmod ksplice"
echo PASS
