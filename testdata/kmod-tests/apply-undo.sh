# Apply and undo update cmdline-v1 (cmdline_proc_show prints "ksplice-v1: "
# before the command line).
# Files: lib.sh ksplice.ko ksplice_cmdline_v1_vmlinux.ko
. ./lib.sh
before=$(cat /proc/cmdline)
insmod ksplice.ko bench=1 || fail "insmod ksplice.ko bench=1"
load ksplice_cmdline_v1_vmlinux.ko
expect "registered" "$(cat $K/cmdline-v1/stage)" loaded
expect "target" "$(cat $K/cmdline-v1/target)" vmlinux
[ "$(cat /proc/cmdline)" = "$before" ] || fail "/proc/cmdline changed before apply"
stage cmdline-v1 apply
expect "stage after apply" "$(cat $K/cmdline-v1/stage)" applied
after=$(cat /proc/cmdline)
[ "$after" = "ksplice-v1: $before" ] || fail "after apply: /proc/cmdline is '$after'"
echo "ok: /proc/cmdline: $after"
cat $K/cmdline-v1/functions
rmmod ksplice_cmdline_v1_vmlinux 2>/dev/null && fail "rmmod of an applied update succeeded"
echo "ok: rmmod of the applied update refused"
refused cmdline-v1 apply bad_stage
stage cmdline-v1 reverse
expect "stage after reverse" "$(cat $K/cmdline-v1/stage)" reversed
[ "$(cat /proc/cmdline)" = "$before" ] || fail "after reverse: /proc/cmdline is '$(cat /proc/cmdline)'"
echo "ok: /proc/cmdline restored"
echo 1 > $K/stop_machine_empty_ns || fail "empty stop_machine round"
echo "ok: empty stop_machine round $(cat $K/stop_machine_empty_ns) ns"
stage cmdline-v1 apply
expect "re-applied" "$(cat /proc/cmdline)" "ksplice-v1: "
stage cmdline-v1 reverse
rmmod ksplice_cmdline_v1_vmlinux || fail "rmmod update"
rmmod ksplice || fail "rmmod ksplice"
dmesg | grep 'ksplice' | grep -v taint
echo PASS
