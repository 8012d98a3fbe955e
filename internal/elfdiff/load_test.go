package elfdiff

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ksplice-go/ksplice/internal/verdict"
)

func readObject(t testing.TB, arch, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testdata, arch, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sectionHeader returns the offset of the header of the first section of
// the given type in an ELF64 little-endian image.
func sectionHeader(t *testing.T, b []byte, typ elf.SectionType) int {
	t.Helper()
	shoff := binary.LittleEndian.Uint64(b[0x28:])
	shnum := binary.LittleEndian.Uint16(b[0x3c:])
	for i := range int(shnum) {
		h := int(shoff) + 64*i
		if elf.SectionType(binary.LittleEndian.Uint32(b[h+4:])) == typ {
			return h
		}
	}
	t.Fatalf("no section of type %v", typ)
	return 0
}

func TestBadInput(t *testing.T) {
	good := readObject(t, "x86_64", "special.orig.o")
	edit := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"not ELF", []byte("#!/bin/sh\necho hello\n"), ErrMalformed},
		{"truncated header", good[:40], ErrMalformed},
		{"truncated sections", good[:len(good)/2], ErrMalformed},
		{"ELF32", edit(func(b []byte) { b[elf.EI_CLASS] = byte(elf.ELFCLASS32) }), ErrNotRelocatable},
		{"big endian", edit(func(b []byte) { b[elf.EI_DATA] = byte(elf.ELFDATA2MSB) }), ErrMalformed},
		{"executable", edit(func(b []byte) { binary.LittleEndian.PutUint16(b[16:], uint16(elf.ET_EXEC)) }), ErrNotRelocatable},
		{"riscv", edit(func(b []byte) { binary.LittleEndian.PutUint16(b[18:], uint16(elf.EM_RISCV)) }), ErrUnsupportedArch},
		{"no symtab", edit(func(b []byte) {
			h := sectionHeader(t, b, elf.SHT_SYMTAB)
			binary.LittleEndian.PutUint32(b[h+4:], uint32(elf.SHT_PROGBITS))
		}), ErrMalformed},
		{"huge section", edit(func(b []byte) {
			h := sectionHeader(t, b, elf.SHT_RELA)
			binary.LittleEndian.PutUint64(b[h+32:], 1<<62)
		}), ErrMalformed},
		{"section past end", edit(func(b []byte) {
			h := sectionHeader(t, b, elf.SHT_RELA)
			binary.LittleEndian.PutUint64(b[h+24:], uint64(len(b)-8))
		}), ErrMalformed},
		{"unknown relocation", edit(func(b []byte) {
			h := sectionHeader(t, b, elf.SHT_RELA)
			off := binary.LittleEndian.Uint64(b[h+24:])
			binary.LittleEndian.PutUint32(b[off+8:], 0xfe)
		}), ErrUnsupportedReloc},
		{"bad symbol index", edit(func(b []byte) {
			h := sectionHeader(t, b, elf.SHT_RELA)
			off := binary.LittleEndian.Uint64(b[h+24:])
			binary.LittleEndian.PutUint32(b[off+12:], 0xffffff)
		}), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := NewFile(bytes.NewReader(tt.data))
			if !errors.Is(err, tt.want) {
				t.Fatalf("NewFile = %v, %v; want an error wrapping %v", f, err, tt.want)
			}
		})
	}
	t.Run("unknown relocation is unsupported", func(t *testing.T) {
		var re *RelocError
		_, err := NewFile(bytes.NewReader(tests[len(tests)-2].data))
		if !errors.As(err, &re) || !errors.Is(err, verdict.ErrUnsupported) {
			t.Fatalf("err = %v, want a *RelocError wrapping verdict.ErrUnsupported", err)
		}
	})
}

// TestTruncations cuts a real object at many lengths: every one must give
// an error or a usable file, never a panic.
func TestTruncations(t *testing.T) {
	good := readObject(t, "arm64", "special.orig.o")
	for n := 0; n < len(good); n += 7 {
		f, err := NewFile(bytes.NewReader(good[:n]))
		if err == nil {
			if _, err := Diff(f, f); err != nil {
				t.Logf("truncated at %d: diff: %v", n, err)
			}
		}
	}
}

// FuzzOpen feeds the loader mutated objects: it must never panic, and what
// it accepts must diff against itself without changes.
func FuzzOpen(f *testing.F) {
	for _, arch := range arches {
		for _, name := range []string{"special.orig.o", "clones.orig.o", "data.patched.o", "dyndbg.patched.o", "fixupold.orig.o", "jumpkeys.orig.o"} {
			f.Add(readObject(f, arch, name))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		obj, err := NewFile(bytes.NewReader(data))
		if err != nil {
			return
		}
		res, err := Diff(obj, obj)
		if err != nil {
			return
		}
		for _, fd := range res.Functions {
			if fd.Status != StatusUnchanged {
				t.Fatalf("self diff: %s is %s: %v", fd.Name, fd.Status, fd.Reasons)
			}
		}
	})
}

// TestContainingEnd checks that a reference just past the end of a
// function or object is its own (objtool's ORC entry at the end of every
// function points there), unless another definition starts there.
func TestContainingEnd(t *testing.T) {
	f := &Symbol{Name: "f", Type: elf.STT_FUNC, Value: 0, Size: 16}
	g := &Symbol{Name: "g", Type: elf.STT_FUNC, Value: 16, Size: 8}
	h := &Symbol{Name: "h", Type: elf.STT_FUNC, Value: 32, Size: 8}
	defs := []*Symbol{f, g, h}
	for _, tc := range []struct {
		off  int64
		want *Symbol
	}{{0, f}, {15, f}, {16, g}, {23, g}, {24, g}, {30, nil}, {32, h}, {40, h}, {41, nil}} {
		if got := containing(defs, tc.off); got != tc.want {
			t.Errorf("containing(%d) = %v, want %v", tc.off, got, tc.want)
		}
	}
}
