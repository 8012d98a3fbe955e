// Command cmpfn measures how many functions of kernel objects have the same
// bytes as in a vmlinux with symbols (a Debian -dbg package's), outside the
// fields their relocations leave to the linker: on arm64 the whole
// instruction of a relocation, elsewhere its field. A function counts as
// the same when one vmlinux function of its name has its size and bytes.
// It is how docs/lab.md's arm64 measurements were made:
//
//	go run ./scripts/cmpfn VMLINUX OBJECT.o...   (V=1 lists the others)
//
// A research tool: nothing in ksplice uses it.
package main

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
)

type sym struct {
	addr, size uint64
}

func main() {
	vm, err := elf.Open(os.Args[1])
	if err != nil {
		panic(err)
	}
	vsyms, _ := vm.Symbols()
	byName := map[string][]sym{}
	for _, s := range vsyms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC {
			byName[s.Name] = append(byName[s.Name], sym{s.Value, s.Size})
		}
	}
	verbose := os.Getenv("V") != ""
	for _, obj := range os.Args[2:] {
		o, err := elf.Open(obj)
		if err != nil {
			panic(err)
		}
		osyms, _ := o.Symbols()
		// relocation masks per section index
		masks := map[int][]bool{}
		arm := o.Machine == elf.EM_AARCH64
		for _, rs := range o.Sections {
			if rs.Type != elf.SHT_RELA {
				continue
			}
			tgt := o.Sections[rs.Info]
			if tgt.Flags&elf.SHF_EXECINSTR == 0 {
				continue
			}
			b, _ := rs.Data()
			m := masks[int(rs.Info)]
			if m == nil {
				m = make([]bool, tgt.Size)
				masks[int(rs.Info)] = m
			}
			for i := 0; i+24 <= len(b); i += 24 {
				off := binary.LittleEndian.Uint64(b[i:])
				typ := uint32(binary.LittleEndian.Uint64(b[i+8:]))
				n := uint64(4)
				if arm {
					off &^= 3
					if typ == uint32(elf.R_AARCH64_ABS64) || typ == uint32(elf.R_AARCH64_PREL64) {
						n = 8
					}
				} else if typ == uint32(elf.R_X86_64_64) || typ == uint32(elf.R_X86_64_PC64) {
					n = 8
				}
				for k := off; k < off+n && k < uint64(len(m)); k++ {
					m[k] = true
				}
			}
		}
		var total, found, sameSize, same int
		for _, s := range osyms {
			if elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Section >= elf.SHN_LORESERVE || s.Size == 0 {
				continue
			}
			sec := o.Sections[s.Section]
			data, _ := sec.Data()
			code := data[s.Value : s.Value+s.Size]
			m := masks[int(s.Section)]
			total++
			cands := byName[s.Name]
			if len(cands) == 0 {
				if verbose {
					fmt.Printf("  %s: not in vmlinux\n", s.Name)
				}
				continue
			}
			found++
			best := "size differs"
			sz := false
			ok := false
			for _, c := range cands {
				if c.size != s.Size {
					continue
				}
				sz = true
				run := make([]byte, c.size)
				for _, vs := range vm.Sections {
					if c.addr >= vs.Addr && c.addr+c.size <= vs.Addr+vs.Size && vs.Type == elf.SHT_PROGBITS {
						vs.ReadAt(run, int64(c.addr-vs.Addr))
					}
				}
				diff := -1
				for k := range code {
					if m != nil && m[s.Value+uint64(k)] {
						continue
					}
					if code[k] != run[k] {
						diff = k
						break
					}
				}
				if diff < 0 {
					ok = true
					break
				}
				best = fmt.Sprintf("byte +%#x differs", diff)
			}
			if sz {
				sameSize++
			}
			if ok {
				same++
			} else if verbose {
				fmt.Printf("  %s (%d bytes): %s\n", s.Name, s.Size, best)
			}
		}
		fmt.Printf("%s: %d functions, %d in vmlinux, %d same size, %d same bytes (%.0f%% of those in vmlinux)\n",
			obj, total, found, sameSize, same, 100*float64(same)/float64(max(found, 1)))
	}
}
