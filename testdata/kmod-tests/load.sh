# 50 apply/undo cycles while every CPU reads /proc/cmdline in a loop: the
# patched function is called all the time, the console stays clean.
# Files: lib.sh ksplice.ko ksplice_cmdline_v1_vmlinux.ko
. ./lib.sh
load ksplice.ko
load ksplice_cmdline_v1_vmlinux.ko
ncpu=$(grep -c ^processor /proc/cpuinfo)
pids=
i=0
while [ $i -lt "$ncpu" ]; do
	( while :; do cat /proc/cmdline > /dev/null; done ) &
	pids="$pids $!"
	i=$((i + 1))
done
n=0
max=0
while [ $n -lt 50 ]; do
	echo apply > $K/cmdline-v1/stage 2>/dev/null ||
		fail "cycle $n apply: $(cat $K/cmdline-v1/abort_message)"
	ns=$(cat $K/cmdline-v1/stop_machine_ns)
	[ "$ns" -gt "$max" ] && max=$ns
	echo reverse > $K/cmdline-v1/stage 2>/dev/null ||
		fail "cycle $n reverse: $(cat $K/cmdline-v1/abort_message)"
	n=$((n + 1))
done
kill $pids
wait 2>/dev/null
echo "ok: 50 apply/reverse cycles under load (longest callback $max ns)"
expect "restored" "$(cat /proc/cmdline)" "console="
rmmod ksplice_cmdline_v1_vmlinux || fail "rmmod update"
rmmod ksplice || fail "rmmod ksplice"
echo PASS
