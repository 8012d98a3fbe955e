package elfdiff

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/testutil"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

const testdata = "../../testdata/elfdiff"

var arches = []string{"x86_64", "arm64"}

// TestMain builds the test objects from their C sources (a no-op when they
// are up to date), as make test does.
func TestMain(m *testing.M) {
	testutil.MainMake(testdata)
	os.Exit(m.Run())
}

func pairNames(t testing.TB) []string {
	t.Helper()
	srcs, err := filepath.Glob(filepath.Join(testdata, "*.orig.c"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no test pairs in %s: %v", testdata, err)
	}
	var names []string
	for _, s := range srcs {
		if n := strings.TrimSuffix(filepath.Base(s), ".orig.c"); !slices.Contains(only612, n) {
			names = append(names, n)
		}
	}
	return names
}

func diffPair(t testing.TB, arch, name string) *Result {
	t.Helper()
	pre, err := Open(filepath.Join(testdata, arch, name+".orig.o"))
	if err != nil {
		t.Fatal(err)
	}
	post, err := Open(filepath.Join(testdata, arch, name+".patched.o"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Diff(pre, post)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestGolden compares the JSON answer for every pair with the golden file.
func TestGolden(t *testing.T) {
	for _, arch := range arches {
		for _, name := range pairNames(t) {
			t.Run(arch+"/"+name, func(t *testing.T) {
				res := diffPair(t, arch, name)
				var buf bytes.Buffer
				if err := res.WriteJSON(&buf); err != nil {
					t.Fatal(err)
				}
				testutil.Golden(t, filepath.Join(testdata, "golden", arch, name+".json"), buf.Bytes())
			})
		}
	}
}

// expect is what a kernel engineer reading a pair's patch expects, on both
// architectures.
type expect struct {
	status   map[string]Status // functions and data objects
	carry    []string          // functions, in any order
	carryX86 []string          // and on x86-64 only (gcc splits .cold parts there)
	// refusalsX86 are refused on x86-64 only (code generation differs).
	refusalsX86 []string
	// jump are the replaced functions given a direct jump window (no
	// ftrace site), with its offset.
	jump, jumpARM64 map[string]int
	data            []string          // carried data objects
	refusals        []string          // "symbol:rule"
	reason          map[string]string // a substring of some reason of the symbol
}

var expectations = map[string]expect{
	"body": {
		status: map[string]Status{"scale": StatusChanged, "add": StatusUnchanged, "keep": StatusUnchanged, "counter": StatusUnchanged},
		carry:  []string{"scale"},
		reason: map[string]string{"scale": "bytes differ at +0x"},
	},
	"strings": {
		status: map[string]Status{"hello": StatusChanged, "bye": StatusUnchanged},
		carry:  []string{"hello"},
		reason: map[string]string{"hello": `now targets string "\x016hello from a patched kernel: %d\n"`},
	},
	"statics": {
		status: map[string]Status{"tack": StatusNew, "tick": StatusUnchanged, "tock": StatusUnchanged},
		carry:  []string{"tack"},
		data:   []string{"count.2"},
	},
	"clones": {
		status: map[string]Status{"compute": StatusRemoved, "compute.constprop.0": StatusNew, "use1": StatusChanged,
			"use2": StatusChanged, "sum.isra.0": StatusUnchanged, "lookup.part.0": StatusUnchanged, "use_sum": StatusUnchanged},
		carry:    []string{"compute.constprop.0", "use1", "use2", "check"},
		carryX86: []string{"check.cold"},
	},
	"warnline": {
		status: map[string]Status{"checked": StatusNoise, "traced": StatusNoise, "fixed": StatusChanged},
		carry:  []string{"fixed"},
		reason: map[string]string{"checked": "__LINE__ argument 2 of __might_sleep", "traced": "__LINE__ argument 2 of _printk"},
	},
	"lineargs": {
		status: map[string]Status{"fs_check": StatusNoise, "fs_verify": StatusNoise, "marked": StatusNoise, "tune": StatusChanged, "fs_fail": StatusChanged},
		carry:  []string{"tune", "fs_fail"},
		reason: map[string]string{"fs_check": "__LINE__ argument 3 of __fs_error", "fs_verify": "__LINE__ argument 4 of fs_asswarn",
			"marked": "__LINE__ argument 1 of note_line", "tune": "bytes differ"},
	},
	"jumpkeys": {
		status: map[string]Status{"toggled": StatusChanged, "steady": StatusUnchanged, "touch": StatusUnchanged},
		carry:  []string{"toggled"},
	},
	"tracekey": {
		status: map[string]Status{"traced": StatusChanged, "demo_switch": StatusUnchanged},
		carry:  []string{"traced"},
	},
	"dyndbg": {
		status: map[string]Status{"early": StatusChanged, "probe": StatusNoise, "fixed": StatusChanged, "__func__.2": StatusNew},
		carry:  []string{"early", "fixed"},
		data:   []string{"__func__.2"},
		reason: map[string]string{"probe": "__dyndbg descriptor 0 lineno: 24 -> 25"},
	},
	"samestatics": {
		status: map[string]Status{"first": StatusNew, "guarded": StatusUnchanged, "limit.0": StatusUnchanged,
			"limit.1": StatusUnchanged, "__warned.3": StatusUnchanged, "__warned.4": StatusUnchanged},
		carry: []string{"first"},
		data:  []string{"limit.2", "__warned.5"},
	},
	"btfids": {
		status: map[string]Status{"map_alloc": StatusChanged, "map_type_id": StatusChanged, "stab_ops": StatusUnchanged, "shtab_ops": StatusUnchanged},
		carry:  []string{"map_alloc", "map_type_id"},
	},
	"renamed": {
		status: map[string]Status{"update_all": StatusNew, "eval_update": StatusRemoved},
		carry:  []string{"update_all"},
	},
	"anchors": {
		status: map[string]Status{"lookup": StatusChanged, "bucket": StatusUnchanged, "set": StatusUnchanged, "resize": StatusUnchanged,
			"count": StatusUnchanged, "sum": StatusUnchanged},
		carry: []string{"lookup"},
	},
	"clonecall": {
		status: map[string]Status{"first": StatusChanged, "second": StatusUnchanged, "scale.constprop.0": StatusUnchanged},
		carry:  []string{"first"},
	},
	"dyndbgfunc": {
		status: map[string]Status{"online": StatusChanged},
		carry:  []string{"online"},
	},
	"uniqueid": {
		status: map[string]Status{"added": StatusChanged, "tagged": StatusUnchanged, "__UNIQUE_ID_tag1.0": StatusUnchanged, "__UNIQUE_ID_tag0.1": StatusNew},
		carry:  []string{"added"},
		data:   []string{"__UNIQUE_ID_tag0.1"},
	},
	"fixupold": {
		status: map[string]Status{"read_a": StatusChanged, "read_b": StatusUnchanged},
		carry:  []string{"read_a"},
		reason: map[string]string{"read_a": ".fixup entry 0: "},
	},
	"ubsan": {
		status:   map[string]Status{"added": StatusChanged, "indexed": StatusNoise, "widened": StatusChanged},
		carry:    []string{"added", "widened"},
		carryX86: []string{"added.cold"},
		reason:   map[string]string{"indexed": "UBSAN location at +0x"},
	},
	"degenjump": {
		status: map[string]Status{"spin_stop": StatusNoise, "spin_new": StatusNew, "spin_last": StatusUnchanged},
		carry:  []string{"spin_new"},
		reason: map[string]string{"spin_stop": "degenerate target (the next instruction)"},
	},
	"linehunks": {
		status: map[string]Status{"top": StatusNoise, "top_mark": StatusNoise, "bottom": StatusNoise, "bottom_mark": StatusNoise,
			"bottom_tune": StatusChanged},
		carry:  []string{"bottom_tune"},
		reason: map[string]string{"top_mark": "21 -> 23", "bottom_mark": "31 -> 36"},
	},
	"funcstr": {
		status: map[string]Status{"named": StatusNoise, "marked": StatusNoise},
		reason: map[string]string{"named": "__LINE__ argument 3 of __fs_error", "marked": "__LINE__ argument 1 of note_line"},
	},
	"data": {
		status:   map[string]Status{"limit": StatusChanged, "weights": StatusChanged, "primes": StatusChanged, "weigh": StatusChanged, "prime": StatusUnchanged, "over": StatusUnchanged},
		carry:    []string{"weigh"},
		data:     []string{"weights"},
		refusals: []string{"limit:data-changed", "primes:rodata-changed"},
	},
	"initfn": {
		status:   map[string]Status{"thing_init": StatusChanged, "thing_exit": StatusChanged, "thing_user": StatusUnchanged},
		carry:    []string{"thing_init", "thing_exit"},
		refusals: []string{"thing_init:init", "thing_exit:init"},
	},
	"mostly": {
		status:   map[string]Status{"mode": StatusChanged, "warned": StatusChanged, "get_mode": StatusUnchanged},
		refusals: []string{"mode:read-mostly", "warned:data-once"},
	},
	"short": {
		status: map[string]Status{"empty_hook": StatusChanged, "long_enough": StatusChanged},
		// A short function is fine: nothing is written into it, its
		// calls are redirected at its ftrace site.
		carry: []string{"empty_hook", "long_enough"},
	},
	"newfunc": {
		status: map[string]Status{"helper": StatusNew, "caller": StatusChanged, "first": StatusUnchanged},
		carry:  []string{"helper", "caller"},
	},
	// A fix in two files: crossdef adds a global helper, crossuse calls
	// it (patchgen's TestNewGlobalOfAnotherObject makes them one update).
	"crossdef": {
		status: map[string]Status{"cd_helper": StatusNew, "cd_user": StatusChanged},
		carry:  []string{"cd_helper", "cd_user"},
	},
	"crossuse": {
		status: map[string]Status{"cu_main": StatusChanged},
		carry:  []string{"cu_main"},
	},
	"calls": {
		status: map[string]Status{"use": StatusChanged, "scale": StatusUnchanged},
		carry:  []string{"use"},
	},
	"midref": {
		status: map[string]Status{"worker": StatusUnchanged, "resume": StatusChanged},
		carry:  []string{"worker", "resume"},
		reason: map[string]string{"worker": "carried: carried resume references +0x8 inside it"},
	},
	"special": {
		status: map[string]Status{"changed": StatusChanged, "same": StatusUnchanged},
		carry:  []string{"changed"},
	},
	"bssinit": {
		status:   map[string]Status{"threshold": StatusChanged, "limit": StatusChanged, "over": StatusUnchanged},
		refusals: []string{"threshold:data-changed", "limit:data-changed"},
	},
	// untraced takes a direct jump; instr_off is noinstr; looped's
	// loop goes back into the window on x86-64 (its first instructions
	// are the loop's head), not on arm64, where gcc sets up the loop
	// in two moves first.
	"notrace": {
		status:      map[string]Status{"untraced": StatusChanged, "traced": StatusChanged, "looped": StatusChanged, "instr_off": StatusChanged, "tiny": StatusChanged},
		carry:       []string{"untraced", "traced", "looped", "instr_off", "tiny"},
		refusals:    []string{"instr_off:no-ftrace-site"},
		refusalsX86: []string{"looped:no-ftrace-site", "tiny:no-ftrace-site"},
		// arm64: after paciasp, landing after the replacement's.
		jump:      map[string]int{"untraced": 0},
		jumpARM64: map[string]int{"untraced": 4, "looped": 0, "tiny": 0},
	},
	// arm64: 12-byte windows (the long jump's room) where the function
	// allows one, relocations in it included; the 4 bytes of "b" where
	// it does not (a branch back to +4, an 8-byte function). On x86-64
	// every one of them has a relocation or a branch target in its
	// first 5 bytes: refused.
	"farjump": {
		status:      map[string]Status{"calls_first": StatusChanged, "reads_first": StatusChanged, "short_one": StatusChanged, "back_into": StatusChanged},
		carry:       []string{"calls_first", "reads_first", "short_one", "back_into"},
		refusalsX86: []string{"calls_first:no-ftrace-site", "reads_first:no-ftrace-site", "short_one:no-ftrace-site", "back_into:no-ftrace-site"},
		jump:        map[string]int{},
		jumpARM64:   map[string]int{"calls_first": 4, "reads_first": 0, "short_one": 0, "back_into": 0},
	},
	"jumpentry": {
		status:    map[string]Status{"plain": StatusChanged},
		carry:     []string{"plain"},
		jump:      map[string]int{"plain": 0},
		jumpARM64: map[string]int{"plain": 4},
	},
	"throughcallers": {
		status: map[string]Status{"body": StatusChanged, "api": StatusUnchanged},
		carry:  []string{"body", "api"},
	},
	"helpercall": {
		status: map[string]Status{"caller": StatusChanged, "notsupp": StatusUnchanged, "table": StatusUnchanged},
		carry:  []string{"caller"},
	},
	"altpiece": {
		status: map[string]Status{"first": StatusChanged, "second": StatusUnchanged},
		carry:  []string{"first"},
	},
	"lockown": {
		status: map[string]Status{"take": StatusChanged, "lock": StatusUnchanged},
		carry:  []string{"take"},
	},
	"lockother": {
		status: map[string]Status{"peek": StatusChanged, "set": StatusUnchanged, "get": StatusUnchanged, "lock": StatusUnchanged},
		carry:  []string{"peek"},
	},
	"export": {
		status:   map[string]Status{"shown": StatusUnchanged, "hidden": StatusUnchanged},
		refusals: []string{"hidden:export-changed", "shown:export-changed"},
	},
	"exportfix": {
		status:   map[string]Status{"probe_warn": StatusChanged, "mbox_map": StatusUnchanged},
		carry:    []string{"probe_warn"},
		refusals: []string{"mbox_map:export-changed", "probe_warn:export-changed"},
	},
	"funclocal": {
		status: map[string]Status{"work": StatusChanged, "t.1": StatusNew, "s.2": StatusUnchanged, "__func__.0": StatusUnchanged},
		carry:  []string{"work"},
		data:   []string{"t.1"},
	},
	"jumptable": {
		status: map[string]Status{"dispatch": StatusChanged},
		carry:  []string{"dispatch"},
	},
	// patchgen: publishing the address of a replaced function (funcptr)
	// or of a new one (funcptrnew).
	"funcptr": {
		status: map[string]Status{"handle": StatusChanged, "publish": StatusChanged},
		carry:  []string{"handle", "publish"},
	},
	"funcptrnew": {
		status: map[string]Status{"handle": StatusUnchanged, "publish": StatusChanged, "handle_checked": StatusNew},
		carry:  []string{"publish", "handle_checked"},
	},
	"trampsite": {
		status: map[string]Status{"early": StatusChanged, "late": StatusChanged},
		// A static branch at the entry is fine: nothing is written
		// over it.
		carry: []string{"early", "late"},
	},
	"quirk": {
		status:   map[string]Status{"quirk_one": StatusUnchanged, "quirk_two": StatusNew},
		carry:    []string{"quirk_two"},
		refusals: []string{".pci_fixup_final:unknown-section"},
	},
	"unknownsec": {
		status:   map[string]Status{"odd": StatusChanged},
		carry:    []string{"odd"},
		refusals: []string{"odd:unknown-section"},
	},
	// Author macros: the hooks are carried as new code, noisy and the
	// section of skipped are ignored, and the macros' sections are
	// neither compared nor refused.
	"authored": {
		status: map[string]Status{"report": StatusChanged, "noisy": StatusChanged, "skipped": StatusChanged,
			"on_load": StatusNew, "before": StatusNew, "check": StatusNew},
		carry:  []string{"report", "on_load", "before", "check"},
		reason: map[string]string{"noisy": "ignored by the author", "skipped": "ignored by the author"},
	},
}

func TestRules(t *testing.T) {
	for _, arch := range arches {
		for _, name := range pairNames(t) {
			t.Run(arch+"/"+name, func(t *testing.T) {
				want, ok := expectations[name]
				if !ok {
					t.Fatalf("no expectation for pair %s", name)
				}
				res := diffPair(t, arch, name)
				got := map[string]*FuncDiff{}
				for _, fd := range res.Functions {
					got[fd.Name] = fd
				}
				gotData := map[string]*DataDiff{}
				for _, dd := range res.Data {
					gotData[dd.Name] = dd
				}
				for sym, st := range want.status {
					var have Status
					var reasons []string
					if fd := got[sym]; fd != nil {
						have, reasons = fd.Status, fd.Reasons
					} else if dd := gotData[sym]; dd != nil {
						have, reasons = dd.Status, dd.Reasons
					} else if arch == "arm64" && name == "clones" && sym == "check" {
						continue
					}
					if have != st {
						t.Errorf("%s: status %q, want %q (reasons %q)", sym, have, st, reasons)
					}
				}
				wantCarry := want.carry
				if arch == "x86_64" {
					wantCarry = append(slices.Clone(wantCarry), want.carryX86...)
				}
				if !sameElems(res.Carry.Functions, wantCarry) {
					t.Errorf("carried functions %q, want %q", res.Carry.Functions, wantCarry)
				}
				if !sameElems(res.Carry.Data, want.data) {
					t.Errorf("carried data %q, want %q", res.Carry.Data, want.data)
				}
				var rules []string
				for _, r := range res.Refusals {
					rules = append(rules, r.Symbol+":"+string(r.Rule))
				}
				wantRefusals := want.refusals
				if arch == "x86_64" {
					wantRefusals = append(slices.Clone(wantRefusals), want.refusalsX86...)
				}
				if !sameElems(rules, wantRefusals) {
					t.Errorf("refusals %q, want %q", rules, wantRefusals)
				}
				jumps := want.jump
				if arch == "arm64" {
					jumps = want.jumpARM64
				}
				for _, fd := range res.Functions {
					off, ok := jumps[fd.Name]
					switch {
					case ok && (fd.Jump == nil || fd.Jump.Offset != off):
						t.Errorf("%s: jump window %+v, want one at +%#x", fd.Name, fd.Jump, off)
					case !ok && fd.Jump != nil:
						t.Errorf("%s: unexpected jump window %+v", fd.Name, fd.Jump)
					}
				}
				if (len(wantRefusals) > 0) != errors.Is(res.Err(), verdict.ErrRefused) {
					t.Errorf("Err() = %v with %d refusals", res.Err(), len(res.Refusals))
				}
				// Each refusal's rule is testable on the error alone.
				for _, rule := range Rules() {
					wantIs := slices.ContainsFunc(res.Refusals, func(r Refusal) bool { return r.Rule == rule })
					if errors.Is(res.Err(), rule.Err()) != wantIs {
						t.Errorf("errors.Is(Err(), %s sentinel) = %v, want %v", rule, !wantIs, wantIs)
					}
				}
				for sym, sub := range want.reason {
					fd := got[sym]
					if fd == nil || !slices.ContainsFunc(fd.Reasons, func(r string) bool { return strings.Contains(r, sub) }) {
						t.Errorf("%s: no reason containing %q in %v", sym, sub, fd)
					}
				}
			})
		}
	}
}

func sameElems(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestClonesCold checks that check.cold is check's child and that changing
// only the cold part carries both (x86-64, where gcc splits it).
func TestClonesCold(t *testing.T) {
	res := diffPair(t, "x86_64", "clones")
	var cold *FuncDiff
	for _, fd := range res.Functions {
		if fd.Name == "check.cold" {
			cold = fd
		}
	}
	if cold == nil || cold.Parent != "check" || cold.Status != StatusChanged {
		t.Fatalf("check.cold = %+v, want a changed child of check", cold)
	}
	if !slices.Contains(res.Carry.Functions, "check") || !slices.Contains(res.Carry.Functions, "check.cold") {
		t.Errorf("carry = %q, want check and check.cold", res.Carry.Functions)
	}
}

// TestSpecialEntries checks that every special section of the special pair
// has its entries attached to the right function, with derived sizes.
func TestSpecialEntries(t *testing.T) {
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			f, err := Open(filepath.Join(testdata, arch, "special.orig.o"))
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"__bug_table", "__ex_table", "__jump_table", ".altinstructions", ".static_call_sites",
				".retpoline_sites", ".return_sites", ".call_sites", ".orc_unwind_ip", ".orc_unwind", ".printk_index"}
			if arch == "x86_64" {
				want = append(want, ".parainstructions", ".smp_locks")
			}
			for _, fn := range f.Functions {
				var names []string
				for _, e := range fn.Entries {
					names = append(names, e.Special.Name)
					if e.Special.EntrySize == 0 || uint64(len(e.Data)) > e.Special.EntrySize {
						t.Errorf("%s: %s entry of %d bytes, entry size %d", fn.Name, e.Special.Name, len(e.Data), e.Special.EntrySize)
					}
				}
				if !sameElems(names, want) {
					t.Errorf("%s: entries in %q, want one in each of %q", fn.Name, names, want)
				}
			}
			if len(f.Unattached) != 0 {
				t.Errorf("%d unattached entries", len(f.Unattached))
			}
			// The sizes the kernel's structs have on both arches.
			sizes := map[string]uint64{"__bug_table": 12, "__ex_table": 12, "__jump_table": 16, ".altinstructions": 12,
				".static_call_sites": 8, ".retpoline_sites": 4, ".orc_unwind": 6, ".printk_index": 8, ".parainstructions": 16}
			for _, sp := range f.Special {
				if want, ok := sizes[sp.Name]; ok && sp.EntrySize != want {
					t.Errorf("%s: derived entry size %d, want %d", sp.Name, sp.EntrySize, want)
				}
			}
		})
	}
}

func TestArchMismatch(t *testing.T) {
	pre, err := Open(filepath.Join(testdata, "x86_64", "body.orig.o"))
	if err != nil {
		t.Fatal(err)
	}
	post, err := Open(filepath.Join(testdata, "arm64", "body.patched.o"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Diff(pre, post)
	var ae *ArchError
	if !errors.As(err, &ae) || !errors.Is(err, ErrArchMismatch) || !errors.Is(err, verdict.ErrRefused) {
		t.Fatalf("Diff(x86_64, arm64) = %v, want an *ArchError refusal", err)
	}
}

func TestNoFunctionSections(t *testing.T) {
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			pre, err := Open(filepath.Join(testdata, arch, "nosections.orig.o"))
			if err != nil {
				t.Fatal(err)
			}
			post, err := Open(filepath.Join(testdata, arch, "body.patched.o"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Diff(pre, post)
			var ne *NoFunctionSectionsError
			if !errors.As(err, &ne) || !errors.Is(err, verdict.ErrRefused) || ne.Section != ".text" {
				t.Fatalf("Diff = %v, want *NoFunctionSectionsError for .text", err)
			}
		})
	}
}

// TestSelfDiff diffs every object against itself: nothing may change.
func TestSelfDiff(t *testing.T) {
	for _, arch := range arches {
		objs, _ := filepath.Glob(filepath.Join(testdata, arch, "*.o"))
		for _, p := range objs {
			if strings.Contains(p, "nosections") || strings.Contains(p, ".running.") || strings.Contains(p, ".noipa.") {
				continue // objects Diff refuses (see TestUseRunning)
			}
			t.Run(arch+"/"+filepath.Base(p), func(t *testing.T) {
				f, err := Open(p)
				if err != nil {
					t.Fatal(err)
				}
				res, err := Diff(f, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Carry.Functions)+len(res.Carry.Data)+len(res.Refusals) != 0 {
					t.Errorf("self diff carries %v, refuses %v", res.Carry, res.Refusals)
				}
			})
		}
	}
}

// BenchmarkDiffTestdata loads and diffs every test pair of both arches per
// iteration and reports objects per second.
func BenchmarkDiffTestdata(b *testing.B) {
	names := pairNames(b)
	type pair struct{ pre, post []byte }
	var pairs []pair
	for _, arch := range arches {
		for _, n := range names {
			pre, err := os.ReadFile(filepath.Join(testdata, arch, n+".orig.o"))
			if err != nil {
				b.Fatal(err)
			}
			post, err := os.ReadFile(filepath.Join(testdata, arch, n+".patched.o"))
			if err != nil {
				b.Fatal(err)
			}
			pairs = append(pairs, pair{pre, post})
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, p := range pairs {
			pre, err := NewFile(bytes.NewReader(p.pre))
			if err != nil {
				b.Fatal(err)
			}
			post, err := NewFile(bytes.NewReader(p.post))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Diff(pre, post); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(2*len(pairs)*b.N)/b.Elapsed().Seconds(), "objects/s")
}

func TestRuleSentinels(t *testing.T) {
	seen := map[error]Rule{}
	for _, r := range Rules() {
		err := r.Err()
		if err == ErrRefused {
			t.Errorf("rule %s has no sentinel of its own", r)
		}
		if other, dup := seen[err]; dup {
			t.Errorf("rules %s and %s share a sentinel", r, other)
		}
		seen[err] = r
		if !errors.Is(err, verdict.ErrRefused) || !strings.Contains(err.Error(), string(r)) {
			t.Errorf("%s sentinel %q: not a refusal naming its rule", r, err)
		}
	}
	if !errors.Is(Rule("no-such-rule").Err(), ErrRefused) {
		t.Error("an unknown rule is not a refusal")
	}
	ref := Refusal{Symbol: "x", Section: ".data.x", Rule: RuleDataChanged, Reason: "initializer of x changed"}
	err := error(&RefusedError{Refusals: []Refusal{ref}})
	if !errors.Is(err, ErrDataChanged) || errors.Is(err, ErrNoFtraceSite) {
		t.Errorf("RefusedError of a data-changed refusal: Is(ErrDataChanged)=%v Is(ErrNoFtraceSite)=%v",
			errors.Is(err, ErrDataChanged), errors.Is(err, ErrNoFtraceSite))
	}
}

// TestAuthored checks what elfdiff reads from the author macros' sections.
func TestAuthored(t *testing.T) {
	for _, arch := range arches {
		t.Run(arch, func(t *testing.T) {
			a := diffPair(t, arch, "authored").Authored
			if a == nil {
				t.Fatal("no Authored in the result")
			}
			hooks := map[string]string{}
			for _, h := range a.Hooks {
				hooks[h.Kind] = h.Function
			}
			want := map[string]string{"load": "on_load", "pre_patch": "before", "pre_apply": "check"}
			if len(hooks) != len(want) {
				t.Errorf("hooks %v, want %v", hooks, want)
			}
			for k, f := range want {
				if hooks[k] != f {
					t.Errorf("hook %s: %q, want %q", k, hooks[k], f)
				}
			}
			if !slices.Equal(a.IgnoredFunctions, []string{"noisy"}) {
				t.Errorf("ignored functions %v, want [noisy]", a.IgnoredFunctions)
			}
			if !slices.Equal(a.Forced, []string{"report"}) {
				t.Errorf("forced %v, want [report]", a.Forced)
			}
			if !slices.Equal(a.IgnoredSections, []string{".text.skipped"}) {
				t.Errorf("ignored sections %v, want [.text.skipped]", a.IgnoredSections)
			}
			if diffPair(t, arch, "body").Authored != nil {
				t.Error("a pair without author macros has Authored")
			}
		})
	}
}
