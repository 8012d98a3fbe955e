// Package kbuild is the configured kernel tree: a kernel's source, an O=
// output tree prepared with its configuration and compiler, and its
// headers, and how to build in them with the kernel's own Kbuild.
//
// A Kernel is such a tree with what is known about the kernel it builds
// for (release, architecture, compiler, headers, its directory in the
// cache). The lab (package lab) fetches distribution kernels and prepares
// them as Kernels; FromSource prepares a user's own tree the same way.
// Tree builds single objects (BuildObjects) with the flags ksplice compares
// them with, Resolver tells whether and where the configuration builds an
// object, and BuildModule builds out-of-tree modules against the headers.
//
// Work that writes into a kernel's directory of the cache holds its lock
// (Kernel.Lock); directories that take long to make are made as stages
// (Stage), marked complete only once finished.
package kbuild
