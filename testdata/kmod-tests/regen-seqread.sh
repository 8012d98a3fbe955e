#!/bin/sh
# Regenerates seqread-update/ (module ksplice_seqread_same_vmlinux, written
# by patchgen through gen.go): seq_read_iter (fs/seq_file.c) replaced by its
# own code, to exercise run-pre on a real function with retpoline calls.
# Old and new code both come from fs/seq_file.o built in a scratch copy of
# the lab's build tree. Run from the repository root:
#
#   testdata/kmod-tests/regen-seqread.sh [debian:6.1.0-55-amd64]
set -eu
kernel=${1:-debian:6.1.0-55-amd64}
json=$(bin/ksplice lab fetch --json "$kernel")
field() { printf '%s\n' "$json" | sed -n "s/^  \"$1\": \"\(.*\)\",\{0,1\}$/\1/p"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -a "$(field build)" "$tmp/build"
make -s -C "$(field source)" O="$tmp/build" CC=gcc-12 KERNELRELEASE="$(field release)" \
	KCFLAGS='-ffunction-sections -fdata-sections' fs/seq_file.o
go run testdata/kmod-update-cmdline/gen.go -func seq_read_iter -carry \
	-symvers "$(field headers)/Module.symvers" \
	-pre "$tmp/build/fs/seq_file.o" -post "$tmp/build/fs/seq_file.o" -rel fs/seq_file.o \
	-id seqread_same -engine-id seqread-same \
	-desc 'seq_read_iter replaced by its own code (run-pre on retpolines)' \
	-out testdata/kmod-tests/seqread-update
