package arch

import (
	"encoding/binary"
	"testing"
)

// TestDynamicStackARM64 checks the instructions that set AArch64's stack
// pointer, encoded as GNU as 2.40 assembles them (aarch64-linux-gnu-as).
func TestDynamicStackARM64(t *testing.T) {
	for _, tc := range []struct {
		name    string
		insns   []uint32
		want    bool
		wantOff int
	}{
		{"fixed frame", []uint32{
			0xd503233f, // paciasp
			0xd10103ff, // sub sp, sp, #0x40
			0xa9017bfd, // stp x29, x30, [sp, #16]
			0x910043fd, // add x29, sp, #0x10
			0xa9427bfd, // ldp x29, x30, [sp, #32]
			0x910103ff, // add sp, sp, #0x40
			0xd50323bf, // autiasp
			0xd65f03c0, // ret
		}, false, 0},
		{"pre-indexed frame and a large one", []uint32{
			0xa9bc7bfd, // stp x29, x30, [sp, #-64]!
			0xd14007ff, // sub sp, sp, #0x1, lsl #12
			0x914007ff, // add sp, sp, #0x1, lsl #12
			0xa8c47bfd, // ldp x29, x30, [sp], #64
		}, false, 0},
		{"restored from the frame pointer", []uint32{
			0x910003bf, // mov sp, x29
			0xd10043bf, // sub sp, x29, #0x10
		}, false, 0},
		{"alloca", []uint32{
			0xa9bf7bfd, // stp x29, x30, [sp, #-16]!
			0xcb2063ff, // sub sp, sp, x0
		}, true, 4},
		// Debian 6.1.187's invoke_syscall() (arch/arm64/kernel/syscall.c),
		// add_random_kstack_offset(): __builtin_alloca of a random size.
		{"random kstack offset", []uint32{
			0xd503245f, // bti c
			0xcb2463ff, // sub sp, sp, x4
		}, true, 4},
		{"sp from another register", []uint32{
			0xd503201f, // nop
			0x9100013f, // mov sp, x9
		}, true, 4},
		{"realigned", []uint32{
			0x927ae53f, // and sp, x9, #0xffffffffffffffc0
		}, true, 0},
		{"xzr is not sp", []uint32{
			0xcb0003ff, // sub xzr, xzr, x0 (shifted register: 31 is xzr)
			0xf27ae53f, // ands xzr, x9, #0xffffffffffffffc0 (tst)
			0xab2063ff, // adds xzr, sp, x0 (cmn)
		}, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := make([]byte, 4*len(tc.insns))
			for i, in := range tc.insns {
				binary.LittleEndian.PutUint32(code[4*i:], in)
			}
			off, ok := DynamicStackARM64(code)
			if ok != tc.want || ok && off != tc.wantOff {
				t.Errorf("got %d %v, want %d %v", off, ok, tc.wantOff, tc.want)
			}
		})
	}
}
