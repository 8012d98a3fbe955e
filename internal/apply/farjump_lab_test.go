package apply_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/labtest"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// farjumpScript: with the engine loaded with test_only_long_jump=FORCE
// (an update's id, or * for all), the uuid-fixed-jump update and one
// stacked on it are applied and undone
// (generate_random_uuid(), lib/uuid.c, has no ftrace site); kpeek shows
// the first 16 bytes of the function at each step, and kallsyms where the
// function and its replacements are.
const farjumpScript = `. ./lib.sh
U=/proc/sys/kernel/random/uuid
random() { case "$(cat $U)" in 5a5a5a5a-*|6b6b6b6b-*) return 1 ;; esac; return 0; }
peek() { echo "peek $1: $(/root/kpeek generate_random_uuid 16)"; }
untouched
random || fail "before apply: $(cat $U)"
peek before
# apply uses the engine that is loaded.
insmod ksplice.ko 'test_only_long_jump=FORCE' || fail "insmod ksplice.ko test_only_long_jump=FORCE"
run 0 ksplice apply --allow-unsigned jump1.tar
[ "$(cat $U)" = 5a5a5a5a-5a5a-4a5a-9a5a-5a5a5a5a5a5a ] || fail "applied: $(cat $U)"
ok "applied: $(cat $U)"
peek jump1
grep -w generate_random_uuid /proc/kallsyms | sed 's/^/sym /'
run 0 ksplice apply --allow-unsigned jump2.tar
[ "$(cat $U)" = 6b6b6b6b-6b6b-4b6b-ab6b-6b6b6b6b6b6b ] || fail "stacked: $(cat $U)"
ok "stacked: $(cat $U)"
peek jump2
grep -w generate_random_uuid /proc/kallsyms | sed 's/^/sym /'
run 0 ksplice undo jump2
[ "$(cat $U)" = 5a5a5a5a-5a5a-4a5a-9a5a-5a5a5a5a5a5a ] || fail "stacked undone: $(cat $U)"
ok "stacked undone: $(cat $U)"
peek jump1again
run 0 ksplice undo jump1
random || fail "undone: $(cat $U)"
ok "undone: $(cat $U)"
peek after
lsmod | grep -q '^ksplice ' && rmmod ksplice
untouched
echo PASS
`

// TestNoFtraceLongJump: the long form of a direct jump on arm64 (adrp
// x16; add x16; br x16), which the engine writes when "b" does not reach
// the replacement (a module KASLR placed beyond +-128 MiB), and here
// wherever the window allows (test_only_long_jump). Two boots:
//   - "long": every jump long (test_only_long_jump=*); the stacked update
//     rewrites a long form into another;
//   - "mixed": booted with nokaslr (modules within "b"'s reach), the first
//     update takes "b" and the stacked one the long form
//     (test_only_long_jump=jump2): a long form written over a short one,
//     and back on undo.
//
// Each checks what the guest does (the uuid is the replacement's while
// applied, random again after undo), what the window holds (kpeek: "b" or
// the three instructions, whose target is the replacement's address from
// kallsyms plus its landing offset), that undo of the stacked update puts
// the first's jump back, and undo of the first the original bytes.
// labtest.Run fails the test on any oops or WARN in the console.
func TestNoFtraceLongJump(t *testing.T) {
	if labtest.Enabled() && !slices.Contains(labtest.Kernels(), arm64Kernel) {
		t.Skip("arm64 lab test: list " + arm64Kernel + " in KSPLICE_LAB_KERNELS, or set KSPLICE_LAB_ARM64=1")
	}
	k := labtest.KernelFor(t, arm64Kernel)
	kmodSrc, _ := filepath.Abs("../../kmod-src")
	dir := t.TempDir()
	read := func(name string) *srcpatch.Patch {
		p, err := srcpatch.ParseFile(filepath.Join("../../testdata/patches", name+".diff"))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	files := []lab.File{scriptFile(t), {Host: buildKpeek(t, "arm64"), Guest: "/root/kpeek"}}
	for i, c := range []struct {
		patch string
		after []*srcpatch.Patch
	}{
		{"uuid-fixed-jump", nil},
		{"uuid-fixed-jump-stacked", []*srcpatch.Patch{read("uuid-fixed-jump")}},
	} {
		id := "jump" + strconv.Itoa(i+1)
		out := filepath.Join(dir, id+".tar")
		if _, err := create.Create(context.Background(), create.Options{Kernel: k, Patch: read(c.patch), PatchName: c.patch,
			After: c.after, ID: id, Output: out, KmodSrc: kmodSrc}); err != nil {
			t.Fatalf("create %s: %v", c.patch, err)
		}
		files = append(files, lab.File{Host: out, Guest: "/root/" + id + ".tar"})
		if i == 0 {
			eng := filepath.Join(dir, "ksplice.ko")
			if err := extractEngine(out, eng); err != nil {
				t.Fatal(err)
			}
			files = append(files, lab.File{Host: eng, Guest: "/root/ksplice.ko"})
		}
	}
	for _, tc := range []struct {
		name, force string
		args        []string
		long        map[string]bool // per update: long form, else b
	}{
		{"long", "*", nil, map[string]bool{"jump1": true, "jump2": true}},
		{"mixed", "jump2", []string{"nokaslr"}, map[string]bool{"jump1": false, "jump2": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := labtest.Run(t, lab.RunOptions{Kernel: k, Timeout: 30 * time.Minute, Files: files, KernelArgs: tc.args,
				Command: []string{"sh", "-c", strings.ReplaceAll(farjumpScript, "FORCE", tc.force)}})
			t.Logf("guest (boot %v, total %v):\n%s", out.Result.Boot.Round(time.Millisecond), out.Result.Total.Round(time.Millisecond), out.Stdout)
			if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
				t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
			}
			checkFarJumps(t, out.Stdout, tc.long)
		})
	}
}

// checkFarJumps reads farjumpScript's output: the words of the function at
// each step and where kallsyms puts it and its replacements. long says
// which update's jump must be the long form (else "b").
func checkFarJumps(t *testing.T, stdout string, long map[string]bool) {
	t.Helper()
	peeks := readPeeks(t, stdout, "generate_random_uuid", "before", "jump1", "jump2", "jump1again", "after")
	if !slices.Equal(peeks["jump1"], peeks["jump1again"]) {
		t.Errorf("undo of the stacked update left %08x, the first update's jump was %08x", peeks["jump1again"], peeks["jump1"])
	}
	// Where the function is, and its replacements (named after it, in
	// the update modules).
	syms := map[string]uint64{}
	for _, m := range regexp.MustCompile(`(?m)^sym ([0-9a-f]+) \w generate_random_uuid(?:\.ksplice)?(?:\s+\[(\w+)\])?$`).FindAllStringSubmatch(stdout, -1) {
		a, _ := strconv.ParseUint(m[1], 16, 64)
		syms[m[2]] = a
	}
	site := syms[""]
	if site == 0 {
		t.Fatalf("generate_random_uuid not in kallsyms output")
	}
	for _, step := range []string{"jump1", "jump2"} {
		mod := ""
		for m := range syms {
			if m != "" && strings.Contains(m, step) {
				mod = m
			}
		}
		if mod == "" {
			t.Errorf("%s: no replacement generate_random_uuid in kallsyms: %v", step, syms)
			continue
		}
		form, find := "long jump", longJump
		if !long[step] {
			form, find = "b", shortJump
		}
		off, dest, err := find(site, peeks["before"], peeks[step])
		if err != nil {
			t.Errorf("%s: %v", step, err)
			continue
		}
		// The window lands at the replacement's entry, or after its
		// paciasp when the window follows the old one's.
		if dest != syms[mod] && dest != syms[mod]+4 {
			t.Errorf("%s: the %s at +%#x goes to %#x, the replacement is at %#x", step, form, off, dest, syms[mod])
		} else {
			t.Logf("%s: %s at generate_random_uuid+%#x to %#x (replacement %#x [%s], %d MiB from the function)",
				step, form, off, dest, syms[mod], mod, int64(syms[mod]-site)>>20)
		}
	}
}

// shortJump finds the one word of before that after changed into "b",
// and returns its offset and destination, for a function at site.
func shortJump(site uint64, before, after []uint32) (int, uint64, error) {
	at := -1
	for i := range after {
		if after[i] != before[i] {
			if at >= 0 {
				return 0, 0, fmt.Errorf("words %d and %d changed (%08x, were %08x): want one b", at, i, after, before)
			}
			at = i
		}
	}
	if at < 0 || after[at]&0xfc000000 != 0x14000000 {
		return 0, 0, fmt.Errorf("no b in %08x (were %08x)", after, before)
	}
	imm := int64(after[at]&0x03ffffff) << 38 >> 36 // sign-extend 26 bits, times 4
	return 4 * at, uint64(int64(site) + int64(4*at) + imm), nil
}

// longJump finds "adrp x16; add x16, x16; br x16" in after where before
// held other words, and returns its offset and destination, for a function
// at site.
func longJump(site uint64, before, after []uint32) (int, uint64, error) {
	for i := 0; i+2 < len(after); i++ {
		adrp, add, br := after[i], after[i+1], after[i+2]
		if adrp&0x9f00001f != 0x90000010 || add&0xffc003ff != 0x91000210 || br != 0xd61f0200 {
			continue
		}
		if !slices.Equal(before[:i], after[:i]) {
			return 0, 0, fmt.Errorf("words before the jump changed: %08x, were %08x", after[:i], before[:i])
		}
		imm := int64(adrp>>29&3) | int64(adrp>>5&0x7ffff)<<2
		imm = imm << 43 >> 43 // sign-extend 21 bits
		pc := site + uint64(4*i)
		dest := uint64(int64(pc&^0xfff)+imm<<12) + uint64(add>>10&0xfff)
		return 4 * i, dest, nil
	}
	b := make([]byte, 4*len(after))
	for i, w := range after {
		binary.LittleEndian.PutUint32(b[4*i:], w)
	}
	return 0, 0, fmt.Errorf("no adrp x16; add x16; br x16 in %08x (% x)", after, b)
}

// farjumpRelocScript: uuid-valid-plus-jump replaces uuid_is_valid(), whose
// jump window holds an adrp (a relocation run-pre matches), with the long
// form forced (test_only_long_jump=valid); a synthetic uevent shows which
// version checks its UUID.
const farjumpRelocScript = `. ./lib.sh
V=/sys/class/mem/null/uevent
dash() { echo "change 01234567-89ab-cdef-0123-456789abcdef" > $V 2>/dev/null; }
plus() { echo "change 01234567+89ab+cdef+0123+456789abcdef" > $V 2>/dev/null; }
peek() { echo "peek $1: $(/root/kpeek uuid_is_valid 16)"; }
untouched
dash || fail "before apply: a valid uuid refused"
plus && fail "before apply: uuid with + accepted"
ok "before apply: - accepted, + refused"
peek before
insmod ksplice.ko 'test_only_long_jump=valid' || fail "insmod ksplice.ko test_only_long_jump=valid"
run 0 ksplice apply --allow-unsigned valid.tar
plus || fail "applied: uuid with + refused"
dash && fail "applied: uuid with - accepted"
ok "applied: + accepted, - refused"
peek valid
grep -w uuid_is_valid /proc/kallsyms | sed 's/^/sym /'
run 0 ksplice undo valid
dash || fail "undone: a valid uuid refused"
plus && fail "undone: uuid with + accepted"
ok "undone: - accepted, + refused"
peek after
lsmod | grep -q '^ksplice ' && rmmod ksplice
untouched
echo PASS
`

// TestNoFtraceLongJumpReloc: a long jump over a window that holds a
// relocation (uuid_is_valid()'s adrp of _ctype at +4 on Debian's 6.1
// arm64): the engine checks the window against what run-pre matched in
// the running code, not against the tables' old code (where the adrp's
// field is zero), writes the long form, and undo writes the running
// bytes back. Observed through a synthetic uevent, whose UUID
// uuid_is_valid() checks.
func TestNoFtraceLongJumpReloc(t *testing.T) {
	if labtest.Enabled() && !slices.Contains(labtest.Kernels(), arm64Kernel) {
		t.Skip("arm64 lab test: list " + arm64Kernel + " in KSPLICE_LAB_KERNELS, or set KSPLICE_LAB_ARM64=1")
	}
	out := runOneLongJump(t, "uuid-valid-plus-jump", "valid", farjumpRelocScript)
	peeks := readPeeks(t, out.Stdout, "uuid_is_valid", "before", "valid", "after")
	// The adrp the window covers: a relocated field, non-zero in the
	// running code.
	adrp := -1
	for i, w := range peeks["before"][:3] {
		if w&0x9f000000 == 0x90000000 {
			adrp = i
		}
	}
	if adrp < 0 {
		t.Errorf("no adrp in the first three instructions of uuid_is_valid (%08x): the test does not cover a relocation in the window", peeks["before"])
	}
	syms := map[string]uint64{}
	for _, m := range regexp.MustCompile(`(?m)^sym ([0-9a-f]+) \w uuid_is_valid(?:\.ksplice)?(?:\s+\[(\w+)\])?$`).FindAllStringSubmatch(out.Stdout, -1) {
		a, _ := strconv.ParseUint(m[1], 16, 64)
		syms[m[2]] = a
	}
	var repl uint64
	for m, a := range syms {
		if strings.Contains(m, "valid") {
			repl = a
		}
	}
	if syms[""] == 0 || repl == 0 {
		t.Fatalf("uuid_is_valid or its replacement not in kallsyms: %v", syms)
	}
	off, dest, err := longJump(syms[""], peeks["before"], peeks["valid"])
	if err != nil {
		t.Fatal(err)
	}
	if off > 4*adrp || 4*adrp >= off+12 || dest != repl+uint64(off) && dest != repl {
		t.Errorf("long jump at +%#x to %#x: want it over the adrp at +%#x, to the replacement at %#x", off, dest, 4*adrp, repl)
	}
	t.Logf("long jump at uuid_is_valid+%#x over the adrp at +%#x, to %#x (replacement %#x)", off, 4*adrp, dest, repl)
}

// readPeeks reads the four words of fn that a guest script printed at
// each step ("peek STEP: FN+0x0: w0 w1 w2 w3", kpeek's output): every
// step must be there, and the first step's words (the function before any
// update) must equal the last's (after the last undo).
func readPeeks(t *testing.T, stdout, fn string, steps ...string) map[string][]uint32 {
	t.Helper()
	peeks := map[string][]uint32{}
	re := regexp.MustCompile(`(?m)^peek (\w+): ` + regexp.QuoteMeta(fn) + `\+0x0:((?: [0-9a-f]{8})+)$`)
	for _, m := range re.FindAllStringSubmatch(stdout, -1) {
		var words []uint32
		for _, w := range strings.Fields(m[2]) {
			v, _ := strconv.ParseUint(w, 16, 32)
			words = append(words, uint32(v))
		}
		peeks[m[1]] = words
	}
	for _, step := range steps {
		if len(peeks[step]) != 4 {
			t.Fatalf("no 4 words of %s %s: %v", fn, step, peeks[step])
		}
	}
	first, last := steps[0], steps[len(steps)-1]
	if !slices.Equal(peeks[first], peeks[last]) {
		t.Errorf("undo left %08x, the function was %08x", peeks[last], peeks[first])
	}
	return peeks
}

// runOneLongJump creates the sample update patch (as id) for the arm64
// lab kernel and runs script in a guest with it (/root/ID.tar), its
// engine (/root/ksplice.ko, for the script to load with its test
// parameters), kpeek and lib.sh; the script must end with PASS.
func runOneLongJump(t *testing.T, patch, id, script string) labtest.Output {
	t.Helper()
	k := labtest.KernelFor(t, arm64Kernel)
	dir := t.TempDir()
	tar := sampleUpdate(t, k, dir, patch, id)
	eng := filepath.Join(dir, "ksplice.ko")
	if err := extractEngine(tar, eng); err != nil {
		t.Fatal(err)
	}
	out := labtest.Run(t, lab.RunOptions{Kernel: k, Timeout: 40 * time.Minute, Files: []lab.File{
		scriptFile(t),
		{Host: buildKpeek(t, "arm64"), Guest: "/root/kpeek"},
		{Host: tar, Guest: "/root/" + id + ".tar"},
		{Host: eng, Guest: "/root/ksplice.ko"},
	}, Command: []string{"sh", "-c", script}})
	t.Logf("guest (boot %v, total %v):\n%s", out.Result.Boot.Round(time.Millisecond), out.Result.Total.Round(time.Millisecond), out.Stdout)
	if out.Result.ExitCode != 0 || !strings.Contains(out.Stdout, "\nPASS\n") {
		t.Fatalf("guest script failed (exit %d):\n%s\n%s", out.Result.ExitCode, out.Stdout, out.Stderr)
	}
	return out
}
