package elfdiff

import (
	"bytes"
	"debug/elf"
	"path/filepath"
	"slices"
	"testing"
)

func openRunning(t *testing.T, arch, name string) *File {
	t.Helper()
	f, err := Open(filepath.Join(testdata, arch, name+".running.o"))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestUseRunning: the functions of an object built with the kernel's own
// flags (one .text, one .bss, ...) are found by symbol and get their
// counterparts in the section-built pre object; their code is cut at
// st_value/st_size, their relocations by offset, and a reference through a
// section anchor resolves to the object containing its offset.
func TestUseRunning(t *testing.T) {
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			res := diffPair(t, arch, "anchors")
			run := openRunning(t, arch, "anchors")
			if err := res.UseRunning(run); err != nil {
				t.Fatal(err)
			}
			if len(res.RunningMissing) != 0 || len(res.RunningOnly()) != 0 {
				t.Errorf("functions of one build only: %v, %v", res.RunningMissing, res.RunningOnly())
			}
			text := 0
			for _, fd := range res.Functions {
				if fd.Pre == nil {
					continue
				}
				r := fd.Running
				if r == nil || r.Name != fd.Pre.Name {
					t.Fatalf("%s: running counterpart %v", fd.Pre.Name, r)
				}
				if r.Section.Name != ".text" {
					t.Errorf("%s: in %s of the running object, want .text", r.Name, r.Section.Name)
				}
				text++
				sec := r.Section
				if !bytes.Equal(r.Code, sec.Data[r.Sym.Value:r.Sym.Value+r.Sym.Size]) || r.Size != r.Sym.Size {
					t.Errorf("%s: code is not st_value/st_size of .text", r.Name)
				}
				for _, rel := range r.Relocs {
					if rel.Offset >= r.Size {
						t.Errorf("%s: relocation at +%#x outside the function (%d bytes)", r.Name, rel.Offset, r.Size)
					}
				}
				// Every relocation of .text inside the function is
				// one of its own, rebased.
				n := 0
				for _, rel := range sec.Relocs {
					if rel.Offset >= r.Offset && rel.Offset < r.Offset+r.Size {
						n++
					}
				}
				if n != len(r.Relocs) {
					t.Errorf("%s: %d relocations, .text has %d in its range", r.Name, len(r.Relocs), n)
				}
			}
			if text != 6 {
				t.Errorf("%d functions with a running counterpart, want 6", text)
			}
			lookup := res.Running.byName(t, "lookup")
			// lookup's old code reaches hits, table and misses. On
			// arm64 the kernel's build addresses them from one anchor
			// (.bss+0, which is hits); it names neither table nor
			// misses, and its code differs from the section build's.
			var names []string
			for _, rel := range lookup.Relocs {
				if rel.Target.Sym != nil && rel.Sym.Type == elf.STT_SECTION && rel.Sym.Section.Name == ".bss" {
					names = append(names, rel.Target.Sym.Name)
				}
			}
			if len(names) == 0 {
				t.Fatalf("lookup's running code has no relocation against .bss")
			}
			for _, n := range names {
				if n != "hits" && n != "table" && n != "misses" {
					t.Errorf("a .bss relocation of lookup resolves to %s", n)
				}
			}
			pre := res.Pre.byName(t, "lookup")
			if arch == "arm64" {
				if slices.Contains(names, "misses") || slices.Contains(names, "table") {
					t.Errorf("arm64 lookup names %v: no section anchor?", names)
				}
				if bytes.Equal(pre.Code, lookup.Code) {
					t.Errorf("lookup's code is the same in both builds: the pair no longer shows what section anchors change")
				}
			}
		})
	}
}

// TestUseRunningMissing: a function the running object does not have is
// listed, never matched to another.
func TestUseRunningMissing(t *testing.T) {
	res := diffPair(t, "arm64", "anchors")
	if err := res.UseRunning(openRunning(t, "arm64", "body")); err != nil {
		t.Fatal(err)
	}
	for _, fd := range res.Functions {
		if fd.Running != nil {
			t.Errorf("%s matched %s of another file", fd.Name, fd.Running.Name)
		}
	}
	if len(res.RunningMissing) != 6 {
		t.Errorf("missing %v, want the 6 functions", res.RunningMissing)
	}
	if fn, ok := res.OldCode(res.Functions[0]); ok || fn != nil {
		t.Errorf("OldCode gives %v, %v without a counterpart", fn, ok)
	}
	if err := res.UseRunning(openRunning(t, "x86_64", "anchors")); err == nil {
		t.Errorf("an x86-64 running object for an arm64 diff is accepted")
	}
}

func (f *File) byName(t *testing.T, name string) *Function {
	t.Helper()
	for _, fn := range f.Functions {
		if fn.Name == name {
			return fn
		}
	}
	t.Fatalf("no function %s", name)
	return nil
}

// TestRunningJump: the direct jump window of a function without an ftrace
// site is decided on the kernel's own build of the object, whose bytes the
// engine overwrites; a window that does not hold there is a refusal, not
// the pre object's guess.
func TestRunningJump(t *testing.T) {
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			res := diffPair(t, arch, "jumpentry")
			if err := res.UseRunning(openRunning(t, arch, "jumpentry")); err != nil {
				t.Fatal(err)
			}
			var fd *FuncDiff
			for _, f := range res.Functions {
				if f.Name == "plain" {
					fd = f
				}
			}
			if fd == nil || fd.Running == nil {
				t.Fatalf("plain: no running counterpart")
			}
			if fd.Jump == nil {
				t.Fatalf("plain: no jump window on the running object; refusals %v", res.Refusals)
			}
			// The same function as the kernel built it, cut short: a
			// ret is all there is to overwrite.
			short := *fd.Running
			short.Code = short.Code[:1]
			short.Size = 1
			fd.Running = &short
			before := len(res.Refusals)
			res.runningJump(res.Running, fd)
			if fd.Jump != nil {
				t.Fatalf("a 1-byte running function kept its window %+v", *fd.Jump)
			}
			if len(res.Refusals) != before+1 || res.Refusals[before].Rule != RuleNoFtraceSite || res.Refusals[before].Symbol != "plain" {
				t.Fatalf("refusals %+v, want one no-ftrace-site for plain", res.Refusals[before:])
			}
			t.Log(res.Refusals[before].Reason)
		})
	}
}
