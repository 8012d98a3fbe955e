// Package arch is the one seam where ksplice's packages learn how an
// architecture differs: where and how large a trampoline is, which ELF
// relocation types exist and what each computes, how instructions decode.
//
// Callers get a *Arch from For and never switch on elf.Machine themselves:
//
//	a, err := arch.For(f.Machine)
//	info, err := a.Reloc(uint32(rela.Type))
//
// Only what elfdiff needs lives here today; later stages (patchgen, run-pre
// matching) add their hooks to the same struct.
package arch
