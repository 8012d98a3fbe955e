# Run-pre must refuse an update whose old code differs from the running
# kernel (cmdline-bad: byte +0xe of cmdline_proc_show's old code flipped),
# naming the function and the offset, and change nothing.
# Files: lib.sh ksplice.ko ksplice_cmdline_bad_vmlinux.ko
. ./lib.sh
before=$(cat /proc/cmdline)
load ksplice.ko
load ksplice_cmdline_bad_vmlinux.ko
refused cmdline-bad apply code_mismatch
msg=$(cat $K/cmdline-bad/abort_message)
expect "names the function" "$msg" "function cmdline_proc_show"
expect "names the offset" "$msg" "byte +0xe differs"
expect "shows the bytes" "$msg" "expected 8b fb"
expect "stage unchanged" "$(cat $K/cmdline-bad/stage)" loaded
[ "$(cat /proc/cmdline)" = "$before" ] || fail "/proc/cmdline changed"
echo "ok: /proc/cmdline unchanged"
rmmod ksplice_cmdline_bad_vmlinux || fail "rmmod update"
rmmod ksplice || fail "rmmod ksplice"
echo PASS
