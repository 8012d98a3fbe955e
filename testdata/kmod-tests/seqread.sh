# seq_read_iter replaced by its own code: run-pre on a real function with
# nine retpoline calls (rewritten or not at boot), calls to a same-file
# static and its .cold part, data of the file (all resolved by deduction).
# /proc reads go through the copy while it is applied.
# Files: lib.sh ksplice.ko ksplice_seqread_same_vmlinux.ko
. ./lib.sh
before=$(cat /proc/cmdline)
load ksplice.ko
load ksplice_seqread_same_vmlinux.ko
stage seqread-same apply
[ "$(cat /proc/cmdline)" = "$before" ] || fail "/proc/cmdline through the copy: $(cat /proc/cmdline)"
expect "/proc/version through the copy" "$(cat /proc/version)" "Linux version"
cat /proc/kallsyms > /dev/null || fail "read /proc/kallsyms"
echo "ok: /proc reads through the copy of seq_read_iter"
echo "spectre_v2: $(cat /sys/devices/system/cpu/vulnerabilities/spectre_v2)"
stage seqread-same reverse
rmmod ksplice_seqread_same_vmlinux || fail "rmmod update"
rmmod ksplice || fail "rmmod ksplice"
echo PASS
