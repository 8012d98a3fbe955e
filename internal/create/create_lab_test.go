package create

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
	"github.com/ksplice-go/ksplice/internal/update"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// The sample patches of testdata/patches, made against Debian's 6.1.192
// source. Each good one must give an update for exactly the functions and
// target listed; each refused one must be refused naming what the reasons
// list, with nothing left behind.
var goodPatches = []struct {
	patch  string
	target string
	funcs  map[string]string // name -> "changed" or "new"
}{
	{patch: "proc-cmdline-string", target: "vmlinux",
		funcs: map[string]string{"cmdline_proc_show": "changed"}},
	{patch: "proc-version-string", target: "vmlinux",
		funcs: map[string]string{"version_proc_show": "changed"}},
	// state_show: five static functions of vmlinux have this name.
	{patch: "power-state-show-dup", target: "vmlinux",
		funcs: map[string]string{"state_show": "changed"}},
	{patch: "proc-loadavg-new-helper", target: "vmlinux",
		funcs: map[string]string{"loadavg_proc_show": "changed", "loadavg_show_tag": "new"}},
	// A WARN_ON in the changed function, and a duplicate name again.
	{patch: "memory-state-show-warn", target: "vmlinux",
		funcs: map[string]string{"state_show": "changed"}},
	// Debian's own fix of 6.1.192-2; ext4_mb_get_buddy_page_lock() is
	// inlined into ext4_mb_init_group().
	// A header change: fs/proc/fd.h's inline proc_fd() changes every
	// function using it, in the objects that include the header; seq_show
	// has over a hundred namesakes in vmlinux.
	{patch: "proc-fd-header", target: "vmlinux",
		funcs: map[string]string{"proc_fd_link": "changed", "seq_show": "changed", "tid_fd_revalidate": "changed"}},
	// cpu_feature_enabled(): .altinstr_aux and overlapping alternatives.
	{patch: "x86-cpuinfo-mhz-altaux", target: "vmlinux",
		funcs: map[string]string{"arch_freq_get_on_cpu": "changed"}},
	// pr_warn_once's flag is a static local of the changed function, which
	// also holds a tracepoint whose static key is not exported: its
	// __jump_table entry is carried keyed on the update's placeholder, and
	// the engine binds the key at apply (issue 13, point 3).
	{patch: "proc-oom-adj-static-local", target: "vmlinux",
		funcs: map[string]string{"__set_oom_adj": "changed"}},
	{patch: "ext4-mballoc-6.1.192-2", target: "ext4",
		funcs: map[string]string{"ext4_mb_init_group": "changed", "ext4_mb_load_buddy_gfp": "changed"}},
}

var refusedPatches = []struct {
	patch   string
	reasons []string // substrings of the error
	// class is the verdict the error wraps: verdict.ErrRefused unless set.
	class error
}{
	{"sys-data-overflowuid", []string{"kernel/sys.o", "overflowuid", "initializer", "--hooks FILE.c --allow-data overflowuid"}, nil},
	// .bss -> .data: a changed initializer, not "no change".
	{"panic-bss-initializer", []string{"kernel/panic.o", "pause_on_oops", "initializer", "--allow-data pause_on_oops"}, nil},
	{"proc-version-init", []string{"fs/proc/version.o", "proc_version_init", "__init"}, nil},
	{"proc-version-noapply", []string{"does not apply", "fs/proc/version.c", "Hunk #1 FAILED"}, nil},
	{"doc-proc-version", []string{"changes no compiled code", "Documentation/filesystems/proc.rst"}, nil},
	{"x86-memcpy-asm", []string{"arch/x86/lib/memcpy_64.S", "assembly"}, nil},
	{"sys-line-shift", []string{"changes nothing in the object code", "kernel/sys.o"}, nil},
	// The rule names the structure and the member that moved.
	{"proc-fd-struct-layout", []string{"fs/proc/fd.o", "struct fd_data", "struct-layout", "mode@0 scalar(4) becomes mode@4"}, nil},
	// A header that hundreds of objects include: the scan keeps the few
	// dozen whose code calls utsname() (the others are not rebuilt),
	// and some of those are __init code.
	{"utsname-header-wide", []string{"__init or __exit code", "kernel/sys.o: __do_sys_newuname", "fs/proc/version.o: version_proc_show"}, nil},
}

func TestCreateSamplePatches(t *testing.T) {
	k := labtest.Kernel(t)
	kmodSrc, err := filepath.Abs("../../kmod-src")
	if err != nil {
		t.Fatal(err)
	}
	// Create's scratch directories go to $TMPDIR: watch a private one.
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	out := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	wantVermagic := kernelVermagic(t, k.Modules)

	create := func(t *testing.T, name string) (*Result, string, error) {
		t.Helper()
		p, err := srcpatch.ParseFile(filepath.Join("../../testdata/patches", name+".diff"))
		if err != nil {
			t.Fatal(err)
		}
		tarball := filepath.Join(out, name+".tar")
		start := time.Now()
		res, err := Create(context.Background(), Options{
			Kernel: k, Patch: p, PatchName: name + ".diff", Output: tarball,
			KmodSrc: kmodSrc, Tool: "ksplice test",
		})
		t.Logf("create %s: %v", name, time.Since(start).Round(time.Millisecond))
		if res != nil {
			for _, s := range res.Stages {
				t.Logf("  %-14s %6d ms", s.Name, s.Millis)
			}
		}
		if left, _ := filepath.Glob(filepath.Join(tmp, "ksplice-create-*")); len(left) > 0 {
			t.Errorf("scratch directories left behind: %v", left)
		}
		return res, tarball, err
	}

	for _, c := range goodPatches {
		t.Run(c.patch, func(t *testing.T) {
			res, tarball, err := create(t, c.patch)
			if err != nil {
				t.Fatal(err)
			}
			m := res.Manifest
			if len(m.Targets) != 1 || m.Targets[0].Name != c.target {
				t.Fatalf("targets = %+v, want one, %s", m.Targets, c.target)
			}
			tgt := m.Targets[0]
			got := map[string]string{}
			for _, f := range tgt.Functions {
				got[baseName(f.Name)] = f.Status
			}
			if fmt.Sprint(got) != fmt.Sprint(c.funcs) {
				t.Errorf("functions = %v, want %v", got, c.funcs)
			}

			u, err := update.ReadFile(tarball)
			if err != nil {
				t.Fatal(err)
			}
			if u.Manifest.ID != res.ID || u.Manifest.Kernel.Release != k.Release {
				t.Errorf("tarball manifest: id %q release %q", u.Manifest.ID, u.Manifest.Kernel.Release)
			}
			ko := u.Files[tgt.Module]
			if ko == nil {
				t.Fatalf("tarball has no %s", tgt.Module)
			}
			for _, name := range []string{tgt.Module, m.Core} {
				vm, err := vermagic(u.Files[name])
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if vm != wantVermagic {
					t.Errorf("%s: vermagic %q, the kernel's modules have %q", name, vm, wantVermagic)
				}
			}
			if m.Kernel.Vermagic != wantVermagic {
				t.Errorf("manifest vermagic %q, want %q", m.Kernel.Vermagic, wantVermagic)
			}

			// The module's tables decode back to the change set.
			tab, err := decodeTables(ko)
			if err != nil {
				t.Fatalf("decode %s: %v", tgt.Module, err)
			}
			if tab.id != res.ID || tab.target != c.target {
				t.Errorf("tables: id %q target %q, want %q %q", tab.id, tab.target, res.ID, c.target)
			}
			var wantReplaced, gotReplaced []string
			var wantSizes []uint64
			for _, f := range tgt.Functions {
				wantSizes = append(wantSizes, f.NewSize)
				if f.Status != "changed" {
					continue
				}
				wantReplaced = append(wantReplaced, fmt.Sprintf("%s old=%d new=%d", f.Name, f.OldSize, f.NewSize))
			}
			for _, f := range tab.funcs {
				gotReplaced = append(gotReplaced, fmt.Sprintf("%s old=%d new=%d", f.name, f.oldSize, f.newSize))
				if f.newFuncSize != uint64(f.newSize) {
					t.Errorf("%s: new_func points at %s (%d bytes), new_size says %d", f.name, f.newFunc, f.newFuncSize, f.newSize)
				}
			}
			sort.Strings(wantReplaced)
			sort.Strings(gotReplaced)
			if fmt.Sprint(gotReplaced) != fmt.Sprint(wantReplaced) {
				t.Errorf("ksplice_funcs = %v, manifest says %v", gotReplaced, wantReplaced)
			}
			sortU64(wantSizes)
			sortU64(tab.newCode)
			if fmt.Sprint(tab.newCode) != fmt.Sprint(wantSizes) {
				t.Errorf("new code: functions of %v bytes, manifest says %v", tab.newCode, wantSizes)
			}
			t.Logf("%s: %s", tgt.Module, strings.Join(gotReplaced, ", "))
		})
	}

	for _, c := range refusedPatches {
		t.Run(c.patch, func(t *testing.T) {
			p, err := srcpatch.ParseFile(filepath.Join("../../testdata/patches", c.patch+".diff"))
			if err != nil {
				t.Fatal(err)
			}
			before := hashChanged(t, k.Source, p)
			_, tarball, err := create(t, c.patch)
			if err == nil {
				t.Fatalf("create succeeded, want a refusal naming %q", c.reasons)
			}
			t.Logf("refused: %v", err)
			class := c.class
			if class == nil {
				class = verdict.ErrRefused
			}
			if !errors.Is(err, class) {
				t.Errorf("error does not wrap %v: %v", class, err)
			}
			for _, r := range c.reasons {
				if !strings.Contains(err.Error(), r) {
					t.Errorf("error does not name %q", r)
				}
			}
			if _, err := os.Stat(tarball); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s written (or stat: %v)", tarball, err)
			}
			if ents, _ := os.ReadDir(out); len(ents) > 0 {
				for _, e := range ents {
					if strings.HasPrefix(e.Name(), ".ksplice-") {
						t.Errorf("partial tarball %s left behind", e.Name())
					}
				}
			}
			if after := hashChanged(t, k.Source, p); after != before {
				t.Errorf("the cache's source tree changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// baseName drops compiler suffixes: "__set_oom_adj.isra.0" -> "__set_oom_adj".
func baseName(s string) string {
	if i := strings.IndexByte(s, '.'); i > 0 {
		return s[:i]
	}
	return s
}

func sortU64(s []uint64) { sort.Slice(s, func(i, j int) bool { return s[i] < s[j] }) }

// hashChanged sums the files p touches in the pristine tree, and lists the
// .orig and .rej files beside them.
func hashChanged(t *testing.T, tree string, p *srcpatch.Patch) string {
	t.Helper()
	h := sha256.New()
	for _, c := range p.Changes {
		name := filepath.Join(tree, c.Path())
		b, err := os.ReadFile(name)
		fmt.Fprintf(h, "%s %v %d\n", c.Path(), err, len(b))
		h.Write(b)
		for _, ext := range []string{".orig", ".rej"} {
			if _, err := os.Stat(name + ext); err == nil {
				fmt.Fprintf(h, "%s%s exists\n", c.Path(), ext)
			}
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// kernelVermagic reads the vermagic of a module the kernel image ships.
func kernelVermagic(t *testing.T, modules string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(modules, "kernel/lib/crc16.ko"))
	if err != nil {
		t.Fatal(err)
	}
	vm, err := vermagic(b)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// tables is what an update module's tables say (docs/update-format.md).
type tables struct {
	id, target string
	funcs      []tableFunc
	newCode    []uint64 // sizes of the functions in .ksplice.text.* sections
}

type tableFunc struct {
	name             string
	oldSize, newSize uint32
	newFunc          string
	newFuncSize      uint64
}

// decodeTables reads struct ksplice_update and its ksplice_func array from
// an update module, following the R_X86_64_64 relocations of the pointers.
func decodeTables(ko []byte) (*tables, error) {
	f, err := elf.NewFile(bytes.NewReader(ko))
	if err != nil {
		return nil, err
	}
	syms, err := f.Symbols()
	if err != nil {
		return nil, err
	}
	bySym := map[string]elf.Symbol{}
	tab := &tables{}
	for _, s := range syms {
		bySym[s.Name] = s
		// The labels, not the local aliases that carry the kernel's
		// names (patchgen's alias).
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && int(s.Section) < len(f.Sections) &&
			strings.HasPrefix(f.Sections[s.Section].Name, ".ksplice.text.") && strings.HasPrefix(s.Name, "ksplice_n") {
			tab.newCode = append(tab.newCode, s.Size)
		}
	}
	upd, ok := bySym["ksplice_update"]
	if !ok {
		return nil, errors.New("no ksplice_update symbol")
	}
	funcs, ok := bySym["ksplice_funcs"]
	if !ok {
		return nil, errors.New("no ksplice_funcs symbol")
	}
	if funcs.Section != upd.Section {
		return nil, errors.New("ksplice_update and ksplice_funcs in different sections")
	}
	sec := f.Sections[upd.Section]
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	// The relocations of sec, by offset: the symbol and the addend.
	type target struct {
		sym    elf.Symbol
		addend int64
	}
	relocs := map[uint64]target{}
	for _, rs := range f.Sections {
		if rs.Type != elf.SHT_RELA || f.Sections[rs.Info] != sec {
			continue
		}
		b, err := rs.Data()
		if err != nil {
			return nil, err
		}
		for i := 0; i+24 <= len(b); i += 24 {
			off := binary.LittleEndian.Uint64(b[i:])
			info := binary.LittleEndian.Uint64(b[i+8:])
			add := int64(binary.LittleEndian.Uint64(b[i+16:]))
			if elf.R_X86_64(info&0xffffffff) != elf.R_X86_64_64 {
				continue
			}
			si := int(info >> 32)
			if si == 0 || si > len(syms) {
				return nil, fmt.Errorf("relocation at %#x: symbol %d", off, si)
			}
			relocs[off] = target{syms[si-1], add}
		}
	}
	str := func(off uint64) (string, error) {
		r, ok := relocs[off]
		if !ok {
			return "", fmt.Errorf("no pointer relocation at %s+%#x", sec.Name, off)
		}
		s := f.Sections[r.sym.Section]
		b, err := s.Data()
		if err != nil {
			return "", err
		}
		at := r.sym.Value + uint64(r.addend)
		if at >= uint64(len(b)) {
			return "", fmt.Errorf("pointer at %#x out of %s", off, s.Name)
		}
		if i := bytes.IndexByte(b[at:], 0); i >= 0 {
			return string(b[at : at+uint64(i)]), nil
		}
		return "", fmt.Errorf("unterminated string at %s+%#x", s.Name, at)
	}
	u32 := func(off uint64) uint32 { return binary.LittleEndian.Uint32(data[off:]) }
	base := upd.Value
	// struct ksplice_update of format versions 4 to 6 (kmod-src/ksplice.h:
	// 5 added a site kind, the direct jump window, 6 let the window grow
	// to 12 bytes with relocations inside; both kept the layout).
	if base+128 > uint64(len(data)) || funcs.Value+funcs.Size > uint64(len(data)) {
		return nil, errors.New("tables out of their section")
	}
	if v := u32(base); v < 4 || v > 6 {
		return nil, fmt.Errorf("format_version %d", v)
	}
	if tab.id, err = str(base + 8); err != nil {
		return nil, err
	}
	if tab.target, err = str(base + 24); err != nil {
		return nil, err
	}
	n := u32(base + 40)
	if uint64(n)*56 != funcs.Size {
		return nil, fmt.Errorf("nr_funcs %d, but ksplice_funcs is %d bytes", n, funcs.Size)
	}
	for i := uint64(0); i < uint64(n); i++ {
		e := funcs.Value + 56*i
		var tf tableFunc
		if tf.name, err = str(e); err != nil {
			return nil, err
		}
		tf.oldSize, tf.newSize = u32(e+16), u32(e+36)
		r, ok := relocs[e+48]
		if !ok {
			return nil, fmt.Errorf("%s: new_func not relocated", tf.name)
		}
		tf.newFunc = r.sym.Name
		for _, s := range syms {
			if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section == r.sym.Section && s.Value == r.sym.Value+uint64(r.addend) {
				tf.newFunc, tf.newFuncSize = s.Name, s.Size
			}
		}
		tab.funcs = append(tab.funcs, tf)
	}
	return tab, nil
}
