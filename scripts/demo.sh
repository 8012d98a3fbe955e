#!/bin/sh
# make demo: what ksplice can do today, end to end, on a real Debian kernel
# booted in QEMU. Nothing here touches the host's kernel.
set -eu
kernel=${1:-debian:6.1.0-55-amd64}
cd "$(dirname "$0")/.."
ksplice=bin/ksplice

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Fetch and prepare $kernel (cached after the first run)"
$ksplice lab fetch "$kernel"
headers=$($ksplice lab fetch --json "$kernel" | sed -n 's/^  "headers": "\(.*\)",$/\1/p')

say "Build a module against the lab kernel's own headers"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp testdata/kmod-hello/* "$work"/
make -s -C "$headers" M="$work" modules
ls -l "$work"/*.ko

say "Boot $kernel in QEMU, load the module, show the kernel's view of it"
$ksplice lab run --kernel "$kernel" --file "$work/ksplice_lab_hello.ko" -- sh -ec '
uname -a
insmod ksplice_lab_hello.ko
echo "--- /proc/modules"
grep ksplice_lab_hello /proc/modules
echo "--- dmesg"
dmesg | grep -E "ksplice_lab_hello|taint" | tail -3
rmmod ksplice_lab_hello
echo "--- after rmmod"
grep -c ksplice_lab_hello /proc/modules || true'
