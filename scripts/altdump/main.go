// Command altdump prints the special-section entries elfdiff finds in an
// object, with their owners: a debugging aid.
//
//	go run ./scripts/altdump OBJECT.o [SECTION]
package main

import (
	"fmt"
	"os"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
)

func main() {
	f, err := elfdiff.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, sp := range f.Special {
		if len(os.Args) > 2 && sp.Name != os.Args[2] {
			continue
		}
		fmt.Printf("%s: entry size %d, %d entries\n", sp.Name, sp.EntrySize, len(sp.Entries))
		for _, e := range sp.Entries {
			owner := "-"
			if e.Owner != nil {
				owner = fmt.Sprintf("%s+%#x", e.Owner.Name, e.Anchor)
			}
			fmt.Printf("  %d @%#x %s %x:", e.Index, e.Offset, owner, e.Data)
			for _, r := range e.Relocs {
				fmt.Printf(" [+%d %s %s%+d]", r.Offset, f.Arch.RelocName(r.Type), r.Sym.Name, r.Addend)
			}
			fmt.Println()
		}
	}
}
