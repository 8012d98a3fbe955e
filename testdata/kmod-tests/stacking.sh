# Two updates of one function: cmdline-v2 was built on top of cmdline-v1,
# so its run-pre matches v1's new code (the newest replacement the engine
# sends calls to), and both share the function's ftrace_ops. Undo
# is last-in first-out.
# Files: lib.sh ksplice.ko ksplice_cmdline_v1_vmlinux.ko ksplice_cmdline_v2_vmlinux.ko
. ./lib.sh
before=$(cat /proc/cmdline)
load ksplice.ko
load ksplice_cmdline_v1_vmlinux.ko
load ksplice_cmdline_v2_vmlinux.ko
refused cmdline-v2 apply code_mismatch
echo "ok: v2 does not match the original code"
stage cmdline-v1 apply
stage cmdline-v2 apply
expect "v2 on top of v1" "$(cat /proc/cmdline)" "ksplice-v2: console="
refused cmdline-v1 reverse not_last
expect "names the later update" "$(cat $K/cmdline-v1/abort_message)" "update cmdline-v2, applied later, changes a function of this one"
expect "v2 still applied" "$(cat /proc/cmdline)" "ksplice-v2: console="
stage cmdline-v2 reverse
expect "back to v1" "$(cat /proc/cmdline)" "ksplice-v1: console="
stage cmdline-v1 reverse
[ "$(cat /proc/cmdline)" = "$before" ] || fail "not restored: $(cat /proc/cmdline)"
echo "ok: /proc/cmdline restored"
rmmod ksplice_cmdline_v2_vmlinux || fail "rmmod v2"
rmmod ksplice_cmdline_v1_vmlinux || fail "rmmod v1"
rmmod ksplice || fail "rmmod ksplice"
echo PASS
