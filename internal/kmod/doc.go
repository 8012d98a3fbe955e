// Package kmod is the user-space side of the kernel engine (kmod-src/):
// loading update modules and driving /sys/kernel/ksplice. For now it holds
// the engine's lab tests, which build ksplice.ko and the test update
// modules against a Debian kernel's headers and run the scripts of
// testdata/kmod-tests in that kernel under QEMU (KSPLICE_LAB=1).
package kmod
