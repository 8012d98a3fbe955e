package arch

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/arch/arm64/arm64asm"
	"golang.org/x/arch/x86/x86asm"
)

// Disassemble renders code as one line of assembly per instruction (GNU
// syntax), "+off: text", for people reading a diff of old and new code.
// Bytes that do not decode are shown as .byte.
func (a *Arch) Disassemble(code []byte) []string {
	var out []string
	for _, in := range a.Decode(code) {
		b := code[in.Off : in.Off+in.Len]
		text := a.disasm(b, in.Off)
		if text == "" {
			text = fmt.Sprintf(".byte % x", b)
		}
		out = append(out, fmt.Sprintf("+%#04x: %s", in.Off, text))
	}
	return out
}

func disasmX86(b []byte, off int) string {
	inst, err := x86asm.Decode(b, 64)
	if err != nil {
		return ""
	}
	return x86asm.GNUSyntax(inst, uint64(off), nil)
}

func disasmARM64(b []byte, _ int) string {
	if len(b) != 4 {
		return ""
	}
	inst, err := arm64asm.Decode(b)
	if err != nil {
		return fmt.Sprintf(".inst %#08x", binary.LittleEndian.Uint32(b))
	}
	return arm64asm.GNUSyntax(inst)
}
