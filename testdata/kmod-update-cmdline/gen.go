//go:build ignore

// Command gen writes the source of an update module for the engine's lab
// tests with patchgen, as ksplice create does, from an object built before
// a patch and the same object built after it. The tests need two things
// create never does, which gen does to the diff before generating:
// -carry replaces a function by its own code (pre and post the same
// object), and -tamper flips a byte of the old code (a run-pre mismatch).
//
//	go run testdata/kmod-update-cmdline/gen.go -pre cmdline.orig.o -post cmdline.v1.o \
//	    -rel fs/proc/cmdline.o -func cmdline_proc_show -id cmdline_v1 -engine-id cmdline-v1 \
//	    -symvers Module.symvers -out testdata/kmod-update-cmdline/v1
//
// It prints the module's name; the module is built with the engine's
// ksplice.h in DIR/include (as create copies it there).
package main

import (
	"flag"
	"fmt"
	"log"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
	"github.com/ksplice-go/ksplice/internal/patchgen"
)

func main() {
	pre := flag.String("pre", "", "object built from the running kernel's source")
	post := flag.String("post", "", "object built from the patched source")
	rel := flag.String("rel", "", "the object's path in its tree (default: post's base name)")
	fn := flag.String("func", "", "the function the update must replace")
	carry := flag.Bool("carry", false, "carry -func even when it did not change")
	id := flag.String("id", "", "update id (the module is ksplice_ID_TARGET)")
	engineID := flag.String("engine-id", "", "id the module registers with the engine (default: -id)")
	desc := flag.String("desc", "", "description")
	target := flag.String("target", "vmlinux", "vmlinux or a module name")
	symvers := flag.String("symvers", "", "Module.symvers files, comma-separated: the symbols the module loader resolves")
	tamper := flag.Int("tamper", -1, "flip bit 1 of this byte of -func's old code")
	// The engine must hold its rules even for updates that create would
	// refuse (made by another tool, or by hand): its tests build such
	// updates on purpose.
	only := flag.Bool("only", false, "carry -func (and its .cold/.part pieces) and no other changed function")
	unchecked := flag.String("unchecked", "", "generate despite elfdiff refusals of this rule (for tests of the engine's own checks)")
	out := flag.String("out", "", "output directory")
	flag.Parse()
	if *pre == "" || *post == "" || *fn == "" || *id == "" || *out == "" || *symvers == "" {
		flag.Usage()
		os.Exit(2)
	}
	if *rel == "" {
		*rel = filepath.Base(*post)
	}
	exported := map[string]bool{}
	for _, f := range strings.Split(*symvers, ",") {
		m, err := patchgen.ReadSymvers(f)
		if err != nil {
			log.Fatal(err)
		}
		maps.Copy(exported, m)
	}
	a, err := elfdiff.Open(*pre)
	if err != nil {
		log.Fatal(err)
	}
	b, err := elfdiff.Open(*post)
	if err != nil {
		log.Fatal(err)
	}
	res, err := elfdiff.Diff(a, b)
	if err != nil {
		log.Fatal(err)
	}
	if *unchecked != "" {
		res.Refusals = slices.DeleteFunc(res.Refusals, func(r elfdiff.Refusal) bool { return string(r.Rule) == *unchecked })
	}
	if err := res.Err(); err != nil {
		log.Fatal(err)
	}
	// -func may name several functions, comma-separated: the first must be
	// in both objects; the others may be new (only in -post).
	var fds []*elfdiff.FuncDiff
	for n, name := range strings.Split(*fn, ",") {
		i := slices.IndexFunc(res.Functions, func(fd *elfdiff.FuncDiff) bool { return fd.Name == name })
		if i < 0 || (n == 0 && res.Functions[i].Pre == nil) {
			log.Fatalf("%s: no function %s in both objects", *rel, name)
		}
		fd := res.Functions[i]
		if *carry {
			fd.Carry = true
		}
		if !fd.Carry {
			log.Fatalf("%s: %s is not carried (%s); -carry replaces it by its own code", *rel, name, fd.Status)
		}
		fds = append(fds, fd)
	}
	fd := fds[0]
	if *only {
		for _, other := range res.Functions {
			if !slices.ContainsFunc(fds, func(k *elfdiff.FuncDiff) bool {
				return other == k || (other.Post != nil && other.Post.Parent == k.Post)
			}) {
				other.Carry = false
			}
		}
		// And only the data they use (new data is carried whoever
		// uses it), directly or through other data carried.
		used := map[*elfdiff.Object]bool{}
		mark := func(rs []elfdiff.Reloc) bool {
			grew := false
			for _, r := range rs {
				if o := r.Target.Sym.Object(); o != nil && !used[o] {
					used[o], grew = true, true
				}
			}
			return grew
		}
		for _, f := range res.CarriedFunctions() {
			mark(f.Post.Relocs)
		}
		for grew := true; grew; {
			grew = false
			for _, dd := range res.Data {
				if dd.Post != nil && used[dd.Post] && mark(dd.Post.Relocs) {
					grew = true
				}
			}
		}
		for _, dd := range res.Data {
			if dd.Post == nil || !used[dd.Post] {
				dd.Carry = false
			}
		}
	}
	if *tamper >= 0 {
		if *tamper >= len(fd.Pre.Code) {
			log.Fatalf("-tamper %d: the old code of %s has %d bytes", *tamper, *fn, len(fd.Pre.Code))
		}
		code := slices.Clone(fd.Pre.Code)
		code[*tamper] ^= 0x02
		fd.Pre.Code = code
	}
	m, err := patchgen.Generate(patchgen.Input{
		ID: *id, EngineID: *engineID, Description: *desc, Target: *target,
		Objects:  []patchgen.Object{{Rel: *rel, Result: res}},
		Exported: func(s string) bool { return exported[s] },
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	for name, b := range m.Files {
		if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(m.Name)
}
