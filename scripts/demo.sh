#!/bin/sh
# make demo: the main job, end to end, on a real Debian kernel booted in
# QEMU: create an update from a sample patch, apply it to the running
# kernel, see the kernel's behaviour change, undo it, see it restored.
# Nothing here touches the host's kernel.
set -eu
kernel=${1:-debian:6.1.0-55-amd64}
patch=${2:-testdata/patches/proc-cmdline-string.diff}
cd "$(dirname "$0")/.."
ksplice=bin/ksplice

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say "Fetch and prepare $kernel (cached after the first run)"
$ksplice lab fetch "$kernel"

say "The patch"
sed -n '/^diff /,$p' "$patch"

say "ksplice keygen: a key to sign updates with (the machine trusts its .pub)"
$ksplice keygen -o "$work/demo" --comment "ksplice demo key"

say "ksplice create: build an update for $kernel from the patch, signed"
$ksplice create --kernel "$kernel" --id demo --sign "$work/demo.key" -o "$work/demo.tar" "$patch"

say "ksplice inspect"
$ksplice inspect "$work/demo.tar"

say "Boot $kernel in QEMU (trusting the demo key); apply the update, undo it"
cat > "$work/demo.sh" <<'GUEST'
set -e
show() { echo "\$ $*"; "$@"; }
show uname -r
show cat /proc/cmdline
show ls /etc/ksplice/keys.d
show ksplice apply demo.tar
show cat /proc/cmdline
show ksplice list
show ksplice undo demo
show cat /proc/cmdline
show ksplice list
GUEST
$ksplice lab run --kernel "$kernel" --file "$work/demo.tar" --file "$work/demo.sh" \
	--file "$work/demo.pub:/etc/ksplice/keys.d/demo.pub" -- sh demo.sh
