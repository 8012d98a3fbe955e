#!/bin/sh
# Regenerates jl-update/, cold-update/, sc-update/, fp-update/ and
# wq-update/, the updates of ksplice_jl_func(), ksplice_cold_func(),
# ksplice_sc_func(), ksplice_fp_publish() with ksplice_fp_target(), and
# ksplice_wq_func() with its new work function, in module
# ksplice_test_safety, from the module's object (old code) and the object
# of the same source built with -DKSPLICE_TEST_PATCHED (new code). Run
# from the repository root:
#
#   testdata/safety/regen.sh [debian:6.1.0-55-amd64]
set -eu
kernel=${1:-debian:6.1.0-55-amd64}
here=testdata/safety
json=$(bin/ksplice lab fetch --json "$kernel")
headers=$(printf '%s\n' "$json" | sed -n 's/^  "headers": "\(.*\)",$/\1/p')
for d in target target-patched; do
	make -s -C "$headers" M="$PWD/$here/$d" modules
done
gen() {
	go run testdata/kmod-update-cmdline/gen.go -func "$1" \
		-symvers "$headers/Module.symvers,$here/target/Module.symvers" \
		-pre $here/target/ksplice_test_safety.o \
		-post $here/target-patched/ksplice_test_safety_patched.o \
		-target ksplice_test_safety -id "$3" -engine-id "$2" \
		-only \
		-desc "$1 returns 2 more" -out "$here/$4"
}
# Modules ksplice_safety_{jl,cold,sc,fp,wq}_ksplice_test_safety, engine
# ids safety-jl, safety-cold, safety-sc, safety-fp, safety-wq.
gen ksplice_jl_func safety-jl safety_jl jl-update
gen ksplice_cold_func safety-cold safety_cold cold-update
gen ksplice_sc_func safety-sc safety_sc sc-update
gen ksplice_fp_publish,ksplice_fp_target safety-fp safety_fp fp-update
gen ksplice_wq_func,ksplice_wq_work_fn safety-wq safety_wq wq-update
for d in target target-patched; do
	make -s -C "$headers" M="$PWD/$here/$d" clean
done
