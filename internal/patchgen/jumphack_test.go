package patchgen

import (
	"bytes"
	"debug/elf"
	"testing"

	"github.com/ksplice-go/ksplice/internal/arch"
	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

// TestJumpLabelHack: a static branch whose __jump_table entry marks its key
// with bit 1 is carried as the NOP objtool would have written (the kernel
// BUGs when it enables a branch whose site is not the NOP it expects), its
// jmp's relocation dropped; an unmarked one, or one already a NOP, stays.
func TestJumpLabelHack(t *testing.T) {
	x86, err := arch.ByName("x86_64")
	if err != nil {
		t.Fatal(err)
	}
	code := []byte{
		0x55,                         // 0: push %rbp
		0xe9, 0x10, 0x00, 0x00, 0x00, // 1: jmp (marked: key+2)
		0xe9, 0x20, 0x00, 0x00, 0x00, // 6: jmp (static_branch_likely: key+1)
		0xeb, 0x05, // 11: jmp short (marked)
		0x0f, 0x1f, 0x44, 0x00, 0x00, // 13: a NOP already (marked)
		0xc3, // 18: ret
	}
	sec := &elfdiff.Section{Name: ".text.f", Flags: elf.SHF_ALLOC | elf.SHF_EXECINSTR, Data: code}
	fn := &elfdiff.Function{Section: sec, Offset: 0, Code: code}
	jt := &elfdiff.Special{Name: "__jump_table"}
	entry := func(at int64, addend int64) *elfdiff.Entry {
		return &elfdiff.Entry{Special: jt, Owner: fn, Anchor: at, Relocs: []elfdiff.Reloc{{Offset: jumpKeyOffset, Addend: addend}}}
	}
	fn.Entries = []*elfdiff.Entry{entry(1, 2), entry(6, 1), entry(11, 2), entry(13, 2)}
	f := &elfdiff.File{Arch: x86, Functions: []*elfdiff.Function{fn}}
	nopped := map[uint64]bool{}
	got := jumpLabelHack(f, sec, nopped)
	want := append([]byte{0x55, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xe9, 0x20, 0x00, 0x00, 0x00, 0x66, 0x90}, code[13:]...)
	if !bytes.Equal(got, want) {
		t.Errorf("code % x\nwant % x", got, want)
	}
	if !bytes.Equal(sec.Data, code) || code[1] != 0xe9 {
		t.Error("the section's own bytes were written")
	}
	for _, off := range []uint64{2, 3, 4, 5, 12} {
		if !nopped[off] {
			t.Errorf("relocation at %d not dropped", off)
		}
	}
	if nopped[7] || len(nopped) != 5 {
		t.Errorf("dropped %v, want 2-5 and 12", nopped)
	}
	arm, err := arch.ByName("arm64")
	if err != nil {
		t.Fatal(err)
	}
	f.Arch = arm
	if got := jumpLabelHack(f, sec, map[uint64]bool{}); !bytes.Equal(got, code) {
		t.Error("arm64 code rewritten")
	}
}
