// Command kpeek prints kernel memory as the guest's kernel holds it, read
// through /proc/kcore: "kpeek SYMBOL LEN [OFFSET]" prints LEN bytes at
// SYMBOL+OFFSET (found in /proc/kallsyms) as 32-bit words. Lab tests run it
// in a guest to tell what a CPU executes from what memory holds (see
// TestApplyARM64/cycles); it is built for the guest's architecture.
package main

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"strconv"
	"strings"
)

func main() {
	if err := peek(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kpeek:", err)
		os.Exit(1)
	}
}

func peek(args []string) error {
	if len(args) < 2 {
		return fmt.Errorf("usage: kpeek SYMBOL LEN [OFFSET]")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n <= 0 || n%4 != 0 {
		return fmt.Errorf("LEN %q: want a positive multiple of 4", args[1])
	}
	var off int64
	if len(args) > 2 {
		if off, err = strconv.ParseInt(args[2], 0, 64); err != nil {
			return fmt.Errorf("OFFSET %q: %w", args[2], err)
		}
	}
	addr, err := lookup(args[0])
	if err != nil {
		return err
	}
	addr = uint64(int64(addr) + off)
	core, err := elf.Open("/proc/kcore")
	if err != nil {
		return err
	}
	defer core.Close()
	for _, p := range core.Progs {
		if p.Type != elf.PT_LOAD || addr < p.Vaddr || addr+uint64(n) > p.Vaddr+p.Memsz {
			continue
		}
		b := make([]byte, n)
		if _, err := p.ReadAt(b, int64(addr-p.Vaddr)); err != nil {
			return fmt.Errorf("read %#x: %w", addr, err)
		}
		fmt.Printf("%s%+#x:", args[0], off)
		for i := 0; i < n; i += 4 {
			fmt.Printf(" %08x", core.ByteOrder.Uint32(b[i:]))
		}
		fmt.Println()
		return nil
	}
	return fmt.Errorf("%s (%#x) is not in /proc/kcore", args[0], addr)
}

// lookup returns the address of the first symbol called name in
// /proc/kallsyms.
func lookup(name string) (uint64, error) {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fl := strings.Fields(s.Text())
		if len(fl) >= 3 && fl[2] == name {
			return strconv.ParseUint(fl[0], 16, 64)
		}
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no symbol %s in /proc/kallsyms", name)
}
