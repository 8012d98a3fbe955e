// Package patchgen turns the change set elfdiff found into the source of a
// per-update kernel module for the ksplice engine (kmod-src/ksplice.h):
//
//   - new.S carries the new code, byte for byte as the compiler made it, as
//     .byte runs with a .reloc directive for each relocation, so that the
//     assembler writes the ELF and the module loader links it; together
//     with the special-section entries the new code needs (__mcount_loc,
//     __jump_table, .altinstructions, __ex_table, __bug_table, ...);
//   - tables.c holds the engine's tables: for each replaced function its
//     old code and relocations, for run-pre matching, and the relocations
//     of the new code that only the engine can resolve (symbols that are
//     not exported);
//   - Kbuild builds both into one module against the target's headers.
//
// patchgen decides nothing about what changed: that is elfdiff's job. It
// knows nothing of building or loading modules either.
package patchgen
