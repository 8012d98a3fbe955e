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
		text := ""
		switch a.Machine {
		case x86_64.Machine:
			if inst, err := x86asm.Decode(b, 64); err == nil {
				text = x86asm.GNUSyntax(inst, uint64(in.Off), nil)
			}
		case arm64.Machine:
			if len(b) == 4 {
				if inst, err := arm64asm.Decode(b); err == nil {
					text = arm64asm.GNUSyntax(inst)
				} else {
					text = fmt.Sprintf(".inst %#08x", binary.LittleEndian.Uint32(b))
				}
			}
		}
		if text == "" {
			text = fmt.Sprintf(".byte % x", b)
		}
		out = append(out, fmt.Sprintf("+%#04x: %s", in.Off, text))
	}
	return out
}
