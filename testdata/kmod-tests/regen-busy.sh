#!/bin/sh
# Regenerates busy-update/, the update of ksplice_busy_park() in module
# ksplice_test_busy (module ksplice_busy_v2_ksplice_test_busy), written by
# patchgen (gen.go) from the module's object (old code) and the object of
# the same source built with -DKSPLICE_TEST_PATCHED (new code). Run from the
# repository root after building kmod-src:
#
#   testdata/kmod-tests/regen-busy.sh [debian:6.1.0-55-amd64]
set -eu
kernel=${1:-debian:6.1.0-55-amd64}
here=testdata/kmod-tests
json=$(bin/ksplice lab fetch --json "$kernel")
headers=$(printf '%s\n' "$json" | sed -n 's/^  "headers": "\(.*\)",$/\1/p')
for d in busy busy-patched; do
	make -s -C "$headers" M="$PWD/$here/$d" modules
done
go run testdata/kmod-update-cmdline/gen.go -func ksplice_busy_park \
	-symvers "$headers/Module.symvers" \
	-pre $here/busy/ksplice_test_busy.o \
	-post $here/busy-patched/ksplice_test_busy_patched.o -rel ksplice_test_busy.o \
	-target ksplice_test_busy -id busy_v2 -engine-id busy-v2 \
	-desc 'ksplice_busy_park returns 2' -out $here/busy-update
