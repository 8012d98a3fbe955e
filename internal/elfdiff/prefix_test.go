package elfdiff

import (
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/testutil"
)

// arches612 are the test objects built with the flags of Debian's 6.12
// kernels (testdata/elfdiff/Makefile's NAMES_612), for the pairs in pairs612.
var (
	arches612 = []string{"x86_64-612", "arm64-612"}
	pairs612  = []string{"body", "prefix", "jumpentry"}
	// only612 are built with 6.12's flags only (the Makefile's ONLY_612).
	only612 = []string{"prefix", "exports"}
)

// prefix612 is what 6.12's flags put before and at the entry of each
// traced function: the prefix's length and bytes, where the ftrace record
// and the __patchable_function_entries record point.
var prefix612 = map[string]struct {
	prefix        uint64
	nop           []byte
	ftrace, patch int64
}{
	// CALL_PADDING: 16 NOPs; __mcount_loc names "call __fentry__" after
	// the endbr64; __patchable_function_entries the padding.
	"x86_64-612": {16, []byte{0x90}, 4, -16},
	// CALL_OPS: two NOPs (the ops slot) before the symbol, where the
	// ftrace record points; no other record.
	"arm64-612": {8, []byte{0x1f, 0x20, 0x03, 0xd5}, -8, NoFtraceSite},
}

func TestGolden612(t *testing.T) {
	for _, arch := range arches612 {
		for _, name := range pairs612 {
			t.Run(arch+"/"+name, func(t *testing.T) {
				res := diffPair(t, arch, name)
				var buf bytes.Buffer
				if err := res.WriteJSON(&buf); err != nil {
					t.Fatal(err)
				}
				if strings.Contains(buf.String(), PatchableSection) {
					t.Errorf("%s is named in the answer (an unknown section?):\n%s", PatchableSection, buf.String())
				}
				testutil.Golden(t, filepath.Join(testdata, "golden", arch, name+".json"), buf.Bytes())
			})
		}
	}
}

// TestPrefix612 checks that every function of the 6.12 objects owns the
// padding before its symbol, that its records point where the kernel's
// do, and that a function which loses its padding (notrace on arm64,
// patchable_function_entry(0, 0)) changes while its unchanged neighbours
// do not.
func TestPrefix612(t *testing.T) {
	for _, arch := range arches612 {
		t.Run(arch, func(t *testing.T) {
			want := prefix612[arch]
			pre, err := Open(filepath.Join(testdata, arch, "prefix.orig.o"))
			if err != nil {
				t.Fatal(err)
			}
			for _, fn := range pre.Functions {
				if fn.Prefix != want.prefix || uint64(len(fn.PrefixCode)) != want.prefix {
					t.Errorf("%s: prefix %d bytes (%x), want %d", fn.Name, fn.Prefix, fn.PrefixCode, want.prefix)
					continue
				}
				if !bytes.Equal(fn.PrefixCode, bytes.Repeat(want.nop, int(want.prefix)/len(want.nop))) {
					t.Errorf("%s: prefix %x, want NOPs", fn.Name, fn.PrefixCode)
				}
				if fn.FtraceSite != want.ftrace || fn.PatchableSite != want.patch {
					t.Errorf("%s: ftrace site %s, patchable entry %s; want %s, %s", fn.Name,
						siteString(fn.FtraceSite), siteString(fn.PatchableSite), siteString(want.ftrace), siteString(want.patch))
				}
				if !fn.FtraceSiteAtEntry(pre.Arch.FtraceSiteMaxOffset) {
					t.Errorf("%s: ftrace site %s not at its entry", fn.Name, siteString(fn.FtraceSite))
				}
			}
			res := diffPair(t, arch, "prefix")
			status := map[string]*FuncDiff{}
			for _, fd := range res.Functions {
				status[fd.Name] = fd
			}
			for name, st := range map[string]Status{"add": StatusUnchanged, "prefix_init": StatusUnchanged,
				"scale": StatusChanged, "untraced": StatusChanged} {
				if fd := status[name]; fd == nil || fd.Status != st {
					t.Errorf("%s: %+v, want %s", name, fd, st)
				}
			}
			if fd := status["untraced"]; fd != nil && !strings.Contains(strings.Join(fd.Reasons, "; "), fmt.Sprintf("prefix %#x -> 0x0 bytes", want.prefix)) {
				t.Errorf("untraced: reasons %q do not name the lost prefix", fd.Reasons)
			}
			if fd := status["untraced"]; fd != nil && fd.Post.Prefix != 0 {
				t.Errorf("untraced after the patch: prefix %d, want 0", fd.Post.Prefix)
			}
			if len(res.Refusals) != 0 {
				t.Errorf("refusals %v", res.Refusals)
			}
		})
	}
}

// TestPrefixBytesCompared changes one byte of add()'s padding (what the
// kernel would never compile, but a prefix is code of the function): add
// changes, and the reason says where.
func TestPrefixBytesCompared(t *testing.T) {
	for _, arch := range arches612 {
		t.Run(arch, func(t *testing.T) {
			path := filepath.Join(testdata, arch, "prefix.orig.o")
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			ef, err := elf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			sec := ef.Section(".text.add")
			ef.Close()
			if sec == nil {
				t.Fatal("no .text.add")
			}
			mod := bytes.Clone(raw)
			mod[sec.Offset+1] ^= 0xff // the second byte of the prefix
			pre, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			post, err := NewFile(bytes.NewReader(mod))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Diff(pre, post)
			if err != nil {
				t.Fatal(err)
			}
			want := prefix612[arch].prefix - 1
			for _, fd := range res.Functions {
				if fd.Name != "add" {
					if fd.Status != StatusUnchanged {
						t.Errorf("%s: %s %q, want unchanged", fd.Name, fd.Status, fd.Reasons)
					}
					continue
				}
				if fd.Status != StatusChanged || !strings.Contains(strings.Join(fd.Reasons, "; "), fmt.Sprintf("prefix bytes differ at -%#x", want)) {
					t.Errorf("add: %s %q, want changed: prefix bytes differ at -%#x", fd.Status, fd.Reasons, want)
				}
			}
		})
	}
}

// TestJumpWindow612: with 6.12's flags a function without an ftrace site
// starts with endbr64 on x86-64 (IBT), where indirect callers land: the
// direct jump goes after it. On arm64 it starts with paciasp: the jump
// goes after it and lands after the replacement's own.
func TestJumpWindow612(t *testing.T) {
	for arch, want := range map[string]JumpWindow{
		"x86_64-612": {Offset: 4, Len: 5, Dest: 0},
		"arm64-612":  {Offset: 4, Len: 12, Dest: 4},
	} {
		t.Run(arch, func(t *testing.T) {
			res := diffPair(t, arch, "jumpentry")
			if len(res.Refusals) != 0 {
				t.Fatalf("refusals %v", res.Refusals)
			}
			for _, fd := range res.Functions {
				if fd.Name != "plain" {
					continue
				}
				if fd.Jump == nil || *fd.Jump != want {
					t.Errorf("plain: jump window %+v, want %+v", fd.Jump, want)
				}
				return
			}
			t.Fatal("no function plain")
		})
	}
}

// TestJumpWindowLong: on arm64 the window is 12 bytes, room for "adrp
// x16; add x16; br x16" when the replacement is beyond "b"'s +-128 MiB,
// wherever the function allows it, with a relocation among its
// instructions (calls_first's bl at +0xc, reads_first's adrp at +0 and
// its :lo12: load at +0xc); else the 4 bytes of "b" (back_into branches
// back to +4; short_one is 8 bytes long).
func TestJumpWindowLong(t *testing.T) {
	want := map[string]JumpWindow{
		"calls_first": {Offset: 4, Len: 12, Dest: 4},
		"reads_first": {Offset: 0, Len: 12, Dest: 0},
		"back_into":   {Offset: 0, Len: 4, Dest: 0},
		"short_one":   {Offset: 0, Len: 4, Dest: 0},
	}
	res := diffPair(t, "arm64", "farjump")
	if len(res.Refusals) != 0 {
		t.Fatalf("refusals %v", res.Refusals)
	}
	seen := 0
	for _, fd := range res.Functions {
		w, ok := want[fd.Name]
		if !ok {
			continue
		}
		seen++
		if fd.Jump == nil || *fd.Jump != w {
			t.Errorf("%s: jump window %+v, want %+v", fd.Name, fd.Jump, w)
		}
	}
	if seen != len(want) {
		t.Errorf("%d of the %d functions found", seen, len(want))
	}
}
