// Package lab fetches real distribution kernels and boots them in QEMU.
//
// Fetch downloads a Debian kernel image with its matching headers, kbuild
// tools and linux-source package into the cache, and prepares them, stage by
// stage, as a kbuild.Kernel: a headers root for out-of-tree modules and a
// configured source tree for building single objects (what a configured
// kernel tree is, and how to build in it, is package kbuild's). Run boots
// the kernel with a generated initramfs and runs one command in the guest
// as root.
//
// The lab never touches the host's kernel: guests are QEMU processes, and
// modules are only ever loaded inside them.
package lab
