#!/bin/sh
# Regenerates the update modules' sources v1/, v2/ and bad/ (modules
# ksplice_cmdline_{v1,v2,bad}_vmlinux) from the running
# kernel's fs/proc/cmdline.c and the patches cmdline.v1.patch (prints
# "ksplice-v1: " before the command line) and cmdline.v2.patch (on top of
# v1 for stacking: "ksplice-v2: "). Run from the repository root:
#
#   testdata/kmod-update-cmdline/regen.sh [debian:6.1.0-55-amd64]
#
# The objects are built in a scratch copy of the lab's prepared build tree
# (never in the cache itself): a patched file placed in the scratch tree's
# fs/proc/ shadows the pristine source through Kbuild's VPATH.
set -eu
kernel=${1:-debian:6.1.0-55-amd64}
here=testdata/kmod-update-cmdline
json=$(bin/ksplice lab fetch --json "$kernel")
field() { printf '%s\n' "$json" | sed -n "s/^  \"$1\": \"\(.*\)\",\{0,1\}$/\1/p"; }
src=$(field source)
build=$(field build)
headers=$(field headers)
release=$(field release)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -a "$build" "$tmp/build"
obj() { # obj NAME [PATCH...]: build fs/proc/cmdline.o with the patches applied
	name=$1; shift
	rm -f "$tmp/build/fs/proc/cmdline.c"
	if [ $# -gt 0 ]; then
		cp "$src/fs/proc/cmdline.c" "$tmp/cmdline.c"
		for p in "$@"; do patch -s "$tmp/cmdline.c" "$p"; done
		cp "$tmp/cmdline.c" "$tmp/build/fs/proc/cmdline.c"
	fi
	make -s -C "$src" O="$tmp/build" CC=gcc-12 KERNELRELEASE="$release" \
		KCFLAGS='-ffunction-sections -fdata-sections' fs/proc/cmdline.o
	cp "$tmp/build/fs/proc/cmdline.o" "$tmp/$name.o"
}
obj orig
obj v1 $here/cmdline.v1.patch
obj v2 $here/cmdline.v1.patch $here/cmdline.v2.patch

# gen.go writes each module's source with patchgen, as ksplice create does.
gen() { go run $here/gen.go -func cmdline_proc_show -rel fs/proc/cmdline.o -symvers "$headers/Module.symvers" "$@"; }
gen -pre "$tmp/orig.o" -post "$tmp/v1.o" -id cmdline_v1 -engine-id cmdline-v1 \
	-desc 'cmdline: print ksplice-v1 before the command line' -out $here/v1
gen -pre "$tmp/v1.o" -post "$tmp/v2.o" -id cmdline_v2 -engine-id cmdline-v2 \
	-desc 'cmdline: print ksplice-v2 (on top of v1)' -out $here/v2
gen -pre "$tmp/orig.o" -post "$tmp/v1.o" -id cmdline_bad -engine-id cmdline-bad \
	-desc 'cmdline: old code tampered at +0xe (run-pre must refuse)' -tamper 14 -out $here/bad
