# A kthread parked inside the function to replace makes apply refuse,
# after retries, naming the task; the kernel is untouched. Once the thread
# is out, apply succeeds. Also: an update of a module that is not loaded.
# Files: lib.sh ksplice.ko ksplice_test_busy.ko ksplice_busy_v2_ksplice_test_busy.ko
. ./lib.sh
P=/sys/module/ksplice_test_busy/parameters
load ksplice.ko
load ksplice_busy_v2_ksplice_test_busy.ko
refused busy-v2 apply target_not_loaded
expect "names the module" "$(cat $K/busy-v2/abort_message)" "target module ksplice_test_busy is not loaded"
load ksplice_test_busy.ko
sleep 1
refused busy-v2 apply busy
msg=$(cat $K/busy-v2/abort_message)
pid=$(pidof ksplice_busy)
expect "names the task" "$msg" "task $pid (ksplice_busy) is inside ksplice_busy_park+0x"
expect "conflicts" "$(cat $K/busy-v2/conflicts)" "$pid ksplice_busy ksplice_busy_park+0x"
expect "retried" "$(cat $K/busy-v2/attempts)" 5
expect "stage unchanged" "$(cat $K/busy-v2/stage)" loaded
echo 1 > $P/release
sleep 1
expect "result of the old code" "$(cat $P/result)" 1
stage busy-v2 apply
sleep 1
expect "result of the new code" "$(cat $P/result)" 2
rmmod ksplice_test_busy 2>/dev/null && fail "rmmod of the patched target succeeded"
echo "ok: rmmod of the patched target refused"
stage busy-v2 reverse
sleep 1
expect "result after reverse" "$(cat $P/result)" 1
rmmod ksplice_busy_v2_ksplice_test_busy || fail "rmmod update"
rmmod ksplice_test_busy || fail "rmmod target"
rmmod ksplice || fail "rmmod ksplice"
echo PASS
