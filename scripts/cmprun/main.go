// Command cmprun measures how many functions of kernel objects are, as
// elfdiff extracts them (by symbol inside their section, relocations cut
// by offset), the running kernel's: the same bytes as the function of
// that name in a vmlinux with symbols (a Debian -dbg package's) outside
// relocated fields, and every relocated field checked holding the address
// of the relocation's target (the symbol elfdiff resolves it to, or one of
// its namesakes). It is how the measurements of docs/lab.md ("Old code from
// the kernel's own build") were made:
//
//	go run ./scripts/cmprun VMLINUX OBJECT.o...   (V=1 lists the others)
//
// Fields the kernel rewrites at boot or that name code elfdiff cannot
// resolve to a symbol (a section with no definition at the offset) are
// compared outside the field and not checked; they are counted. Weak
// functions are left out: vmlinux's function of their name may be another
// object's.
// A research tool: nothing in ksplice uses it.
package main

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"strings"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

type vsym struct{ addr, size uint64 }

type vmlinux struct {
	f      *elf.File
	byName map[string][]vsym
	secs   []*elf.Section
}

func (v *vmlinux) read(addr, n uint64) []byte {
	for _, s := range v.secs {
		if addr >= s.Addr && addr+n <= s.Addr+s.Size {
			b := make([]byte, n)
			if _, err := s.ReadAt(b, int64(addr-s.Addr)); err != nil {
				return nil
			}
			return b
		}
	}
	return nil
}

func main() {
	vf, err := elf.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	v := &vmlinux{f: vf, byName: map[string][]vsym{}}
	syms, err := vf.Symbols()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, s := range syms {
		v.byName[s.Name] = append(v.byName[s.Name], vsym{s.Value, s.Size})
	}
	for _, s := range vf.Sections {
		if s.Type == elf.SHT_PROGBITS && s.Flags&elf.SHF_ALLOC != 0 {
			v.secs = append(v.secs, s)
		}
	}
	verbose := os.Getenv("V") != ""
	var all [4]int
	for _, path := range os.Args[2:] {
		o, err := elfdiff.Open(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		var total, found, bytesSame, same, checked, unchecked, weak int
		for _, fn := range o.Functions {
			if fn.Size == 0 || fn.Code == nil {
				continue
			}
			if fn.Sym.Bind == elf.STB_WEAK {
				// vmlinux's function of that name may be another
				// object's strong one (sys_ni.o's hundreds of
				// aliases, arch_dup_task_struct).
				weak++
				continue
			}
			total++
			cands := v.byName[fn.Name]
			if len(cands) == 0 {
				if verbose {
					fmt.Printf("  %s: not in vmlinux\n", fn.Name)
				}
				continue
			}
			found++
			best, bytesOK, ok := "size differs", false, false
			for _, c := range cands {
				if c.size != fn.Size {
					continue
				}
				run := v.read(c.addr, c.size)
				if run == nil {
					continue
				}
				why, nc, nu := compare(v, o, fn, c.addr, run)
				if why == "" || strings.HasPrefix(why, "reloc") {
					bytesOK = true
				}
				if why == "" {
					ok = true
					checked, unchecked = checked+nc, unchecked+nu
					break
				}
				best = why
			}
			if bytesOK {
				bytesSame++
			}
			if ok {
				same++
			} else if verbose {
				fmt.Printf("  %s (%d bytes): %s\n", fn.Name, fn.Size, best)
			}
		}
		fmt.Printf("%s: %d functions, %d in vmlinux, %d same bytes, %d same bytes and relocations (%.0f%%; %d fields checked, %d not; %d weak left out)\n",
			path, total, found, bytesSame, same, 100*float64(same)/float64(max(found, 1)), checked, unchecked, weak)
		all[0] += total
		all[1] += found
		all[2] += bytesSame
		all[3] += same
	}
	fmt.Printf("all: %d functions, %d in vmlinux, %d same bytes, %d same bytes and relocations (%.0f%%)\n",
		all[0], all[1], all[2], all[3], 100*float64(all[3])/float64(max(all[1], 1)))
}

// compare returns "" when fn at addr (whose bytes are run) is the running
// kernel's, else why not ("byte ..." or "reloc ..."), and how many
// relocated fields it checked and left unchecked.
func compare(v *vmlinux, o *elfdiff.File, fn *elfdiff.Function, addr uint64, run []byte) (string, int, int) {
	arm := o.Arch.Name == "arm64"
	mask := make([]byte, len(fn.Code))
	for i := range mask {
		mask[i] = 0xff
	}
	for _, r := range fn.Relocs {
		if r.Info.Kind == 0 {
			continue
		}
		m, n := fieldMask(o, r)
		for i := 0; i < n && int(r.Offset)+i < len(mask); i++ {
			mask[int(r.Offset)+i] &^= m[i]
		}
	}
	for i := range fn.Code {
		if fn.Code[i]&mask[i] != run[i]&mask[i] {
			return fmt.Sprintf("byte +%#x differs", i), 0, 0
		}
	}
	var nc, nu int
	for _, r := range fn.Relocs {
		if r.Info.Kind == 0 {
			continue
		}
		want := targets(v, r)
		if want == nil || rewritten(r) {
			nu++
			continue
		}
		p := addr + r.Offset
		okAny := false
		for _, x := range want {
			if fieldHolds(o.Arch.RelocName(r.Type), run[r.Offset:], p, x+uint64(r.Addend), arm) {
				okAny = true
				break
			}
		}
		if !okAny {
			return fmt.Sprintf("reloc at +%#x (%s against %s%+d) does not hold its target", r.Offset, o.Arch.RelocName(r.Type), r.Sym.Name, r.Addend), nc, nu
		}
		nc++
	}
	return "", nc, nu
}

// rewritten: targets whose fields the kernel rewrites, or which the
// linker replaces.
func rewritten(r elfdiff.Reloc) bool {
	n := r.Sym.Name
	return n == "__fentry__" || strings.HasPrefix(n, "__x86_") || strings.HasPrefix(n, "__SCT__")
}

// targets returns the vmlinux addresses r's symbol may have: by name, or
// for a section symbol through the definition elfdiff resolved it to.
func targets(v *vmlinux, r elfdiff.Reloc) []uint64 {
	s := r.Sym
	if s == nil {
		return nil
	}
	if s.Type != elf.STT_SECTION {
		var out []uint64
		for _, c := range v.byName[s.Name] {
			out = append(out, c.addr)
		}
		return out
	}
	t := r.Target.Sym
	if t == nil || t.Type == elf.STT_SECTION || t.Section == nil {
		return nil
	}
	var out []uint64
	for _, c := range v.byName[t.Name] {
		out = append(out, c.addr-t.Value) // the section's base
	}
	return out
}

// fieldMask returns the bits of the n bytes at a relocation that it writes.
func fieldMask(o *elfdiff.File, r elfdiff.Reloc) ([]byte, int) {
	name := o.Arch.RelocName(r.Type)
	var m uint32
	switch {
	case strings.HasSuffix(name, "64") && !strings.Contains(name, "LDST"):
		return []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 8
	case !strings.HasPrefix(name, "R_AARCH64_"), strings.HasSuffix(name, "ABS32"), strings.HasSuffix(name, "PREL32"):
		return []byte{0xff, 0xff, 0xff, 0xff}, 4
	case strings.Contains(name, "CALL26"), strings.Contains(name, "JUMP26"):
		m = 0x03ffffff
	case strings.Contains(name, "CONDBR19"), strings.Contains(name, "LD_PREL_LO19"):
		m = 0x7ffff << 5
	case strings.Contains(name, "TSTBR14"):
		m = 0x3fff << 5
	case strings.Contains(name, "ADR_PREL_PG_HI21"):
		m = 0x7ffff<<5 | 3<<29
	case strings.Contains(name, "LO12"):
		m = 0xfff << 10
	default:
		m = 0xffffffff
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], m)
	return b[:], 4
}

func sext(v uint64, bits uint) int64 {
	return int64(v<<(64-bits)) >> (64 - bits)
}

// fieldHolds reports whether the field at p (its bytes b) holds sa, the
// target plus addend, under relocation type name.
func fieldHolds(name string, b []byte, p, sa uint64, arm bool) bool {
	u32 := uint64(binary.LittleEndian.Uint32(b))
	switch {
	case strings.HasSuffix(name, "ABS64"), name == "R_X86_64_64":
		return binary.LittleEndian.Uint64(b) == sa
	case strings.HasSuffix(name, "PREL64"), name == "R_X86_64_PC64":
		return binary.LittleEndian.Uint64(b) == sa-p
	case strings.HasSuffix(name, "PREL32"), name == "R_X86_64_PC32", name == "R_X86_64_PLT32":
		return uint32(u32) == uint32(sa-p)
	case strings.HasSuffix(name, "ABS32"), name == "R_X86_64_32", name == "R_X86_64_32S":
		return uint32(u32) == uint32(sa)
	case !arm:
		return false
	case strings.Contains(name, "CALL26"), strings.Contains(name, "JUMP26"):
		return p+uint64(sext(u32&0x03ffffff, 26)*4) == sa
	case strings.Contains(name, "CONDBR19"), strings.Contains(name, "LD_PREL_LO19"):
		return p+uint64(sext(u32>>5&0x7ffff, 19)*4) == sa
	case strings.Contains(name, "TSTBR14"):
		return p+uint64(sext(u32>>5&0x3fff, 14)*4) == sa
	case strings.Contains(name, "ADR_PREL_PG_HI21"):
		imm := sext(u32>>5&0x7ffff<<2|u32>>29&3, 21) << 12
		return p&^0xfff+uint64(imm) == sa&^0xfff
	case strings.Contains(name, "ADD_ABS_LO12"):
		return u32>>10&0xfff == sa&0xfff
	case strings.Contains(name, "LDST"):
		scale := map[string]uint{"8": 0, "16": 1, "32": 2, "64": 3, "128": 4}
		for k, sc := range scale {
			if strings.Contains(name, "LDST"+k+"_") {
				return u32>>10&0xfff == (sa&0xfff)>>sc
			}
		}
	}
	return false
}
