package arch

import "encoding/binary"

// DynamicStackARM64 returns the offset of the first instruction of AArch64
// code that sets the stack pointer to an amount known only at run time, as
// alloca and variable-length arrays do ("sub sp, sp, x0"), and whether
// there is one. A function's fixed frame moves the stack pointer only by
// immediates ("sub sp, sp, #0x40", "stp x29, x30, [sp, #-64]!") or back
// from its frame pointer ("mov sp, x29", "add sp, x29, #0x10"); anything
// else that writes the stack pointer counts as dynamic, so that a doubt
// says yes. Code is whole 4-byte instructions; a trailing fragment is
// ignored.
func DynamicStackARM64(code []byte) (int, bool) {
	const sp, fp = 31, 29
	for off := 0; off+4 <= len(code); off += 4 {
		in := binary.LittleEndian.Uint32(code[off:])
		rd, rn := in&31, (in>>5)&31
		switch {
		case in>>24&0x1f == 0x11 && in>>23&1 == 0:
			// ADD/SUB (immediate), either width: Rd and Rn may be SP.
			if rd == sp && in>>29&1 == 0 && rn != sp && rn != fp {
				return off, true
			}
		case in>>21&0xff == 0x59:
			// ADD/SUB (extended register): Rd may be SP ("sub sp,
			// sp, x0, uxtx").
			if rd == sp && in>>29&1 == 0 {
				return off, true
			}
		case in>>23&0x3f == 0x24:
			// Logical (immediate): AND, ORR, EOR may write SP
			// (ANDS writes XZR).
			if rd == sp && in>>29&3 != 3 {
				return off, true
			}
		}
	}
	return 0, false
}
