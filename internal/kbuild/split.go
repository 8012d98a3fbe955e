package kbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/ksplice-go/ksplice/internal/run"
)

// A kernel of another architecture whose compiler the host's cross
// compiler is not (Debian's 6.1 arm64 kernels: native gcc 12.2.0-14+deb12u1,
// run here under qemu-user) costs minutes per object to build. Of create's
// three builds of a touched object only one needs that very compiler: the
// running build, whose code run-pre compares byte for byte with the
// running kernel's. The pre and post section builds decide which functions
// changed and supply the new code; another compiler can make them when it
// makes them both (the diff is then no compiler noise) and its code is as
// good for the running kernel: the same gcc release, with the kernel's own
// flags (-mbranch-protection, -fpatchable-function-entry, the stack
// protector's guard register all come from the kernel's Makefiles and
// Kconfig, which the cross tree is checked to keep). CompilerPlan is that
// decision.

// CompilerPlan says which compiler builds which of create's builds. Its
// JSON form is part of create's --json output and is stable.
type CompilerPlan struct {
	// Running is the --version of the compiler of the running build: the
	// kernel's own, always.
	Running string `json:"running"`
	// Section is the --version of the compiler of the pre and post
	// section builds; Cross says it is the host's cross compiler
	// (CrossCC), not the kernel's.
	Section string `json:"section"`
	Cross   bool   `json:"cross"`
	CrossCC string `json:"cross_cc,omitempty"`
	// Note says why, in a sentence for the create log.
	Note string `json:"note"`
	// NoDynamicStack, with Cross, says the two compilers differ in a way
	// that matters only for functions that allocate stack dynamically
	// (see knownDifferences): new code that does must be built by the
	// kernel's compiler, and create builds again without the split.
	NoDynamicStack bool `json:"no_dynamic_stack,omitempty"`
}

// gccVersionRe reads a Debian gcc's --version line: the program, the
// Debian version (upstream-revision) and the upstream version.
var gccVersionRe = regexp.MustCompile(`^(\S+) \(Debian ([^)\s]+)\) (\S+)$`)

// gccVersion is a Debian gcc's version, read from its --version line.
type gccVersion struct {
	program  string // "gcc-12", "aarch64-linux-gnu-gcc-12"
	debian   string // "12.2.0-14+deb12u1"
	upstream string // "12.2.0"
}

func parseGCCVersion(text string) (gccVersion, bool) {
	m := gccVersionRe.FindStringSubmatch(strings.TrimSpace(text))
	if m == nil {
		return gccVersion{}, false
	}
	return gccVersion{program: m[1], debian: m[2], upstream: m[3]}, true
}

// knownDifference is a difference between two Debian builds of one gcc
// release, read from the exact package's changelog, with what it changes
// in kernel code.
type knownDifference struct {
	exact, cross string // Debian versions of the kernel's compiler and of the cross compiler
	what         string // for the create log
}

// knownDifferences lists the Debian revisions of one gcc release that the
// split accepts, each after reading what the revision changed.
//
// gcc-12 12.2.0-14+deb12u1 (the native gcc Debian 12 builds its kernels
// with since April 2025) differs from 12.2.0-14 (what the cross compiler
// gcc-12-cross 12.2.0-14cross1 is built from: Built-Using gcc-12 (=
// 12.2.0-14)) by one change only, its changelog's "Fix -fstack-protector
// handling of overflows on AArch64 (CVE-2023-4039)". It moves the saved
// registers of a stack-protected AArch64 function above its locals, so
// that the canary sits between them (measured on six 6.1 arm64 objects:
// every differing function differs in that layout). Without dynamic stack
// allocation both layouts put the canary between every local and every
// saved return address; the CVE is about dynamically sized locals (alloca,
// variable-length arrays), which the old layout leaves below the saved
// registers, unguarded. So new code may come from 12.2.0-14 when none of it
// allocates stack dynamically (CompilerPlan.NoDynamicStack).
var knownDifferences = []knownDifference{{
	exact: "12.2.0-14+deb12u1",
	cross: "12.2.0-14",
	what:  "12.2.0-14+deb12u1's only change is the AArch64 stack-protector frame layout of CVE-2023-4039, which matters only for functions that allocate stack dynamically",
}}

// PlanCompilers decides which compiler makes create's section builds of a
// kernel built with the compiler whose --version is kernel (its
// CONFIG_CC_VERSION_TEXT), when that one runs emulated and the host has a
// cross compiler crossCC whose --version is cross ("" when it has none):
// the cross compiler when it is the same Debian build of the same gcc, or
// one whose only differences are known (knownDifferences); else the
// kernel's compiler does all three, and Note says why.
func PlanCompilers(kernel, crossCC, cross string) CompilerPlan {
	exact := CompilerPlan{Running: kernel, Section: kernel}
	if crossCC == "" || cross == "" {
		exact.Note = "the kernel's compiler builds everything: the host has no cross compiler for it"
		return exact
	}
	k, ok1 := parseGCCVersion(kernel)
	c, ok2 := parseGCCVersion(cross)
	switch {
	case !ok1 || !ok2:
		exact.Note = fmt.Sprintf("the kernel's compiler builds everything: %q or %q is not a Debian gcc's version", kernel, cross)
		return exact
	case k.upstream != c.upstream:
		exact.Note = fmt.Sprintf("the kernel's compiler builds everything: the cross compiler %s is gcc %s, the kernel's %s", crossCC, c.upstream, k.upstream)
		return exact
	}
	split := CompilerPlan{Running: kernel, Section: cross, Cross: true, CrossCC: crossCC}
	if k.debian == c.debian {
		split.Note = fmt.Sprintf("the host's %s builds the section builds: the same gcc build as the kernel's (Debian %s)", crossCC, k.debian)
		return split
	}
	for _, d := range knownDifferences {
		if d.exact == k.debian && d.cross == c.debian {
			split.Note = fmt.Sprintf("the host's %s (Debian %s) builds the section builds, the kernel's (Debian %s) the running build: %s; new code that does is built again by the kernel's", crossCC, c.debian, k.debian, d.what)
			split.NoDynamicStack = true
			return split
		}
	}
	exact.Note = fmt.Sprintf("the kernel's compiler builds everything: the cross compiler %s is Debian %s, the kernel's Debian %s, a difference not known to leave code the same", crossCC, c.debian, k.debian)
	return exact
}

// CrossCompiler returns the host's cross compiler of the kernel's gcc
// ("aarch64-linux-gnu-gcc-12" for "gcc-12") and its --version, or "" when
// the kernel is of the host's architecture or the host has none.
func (k *Kernel) CrossCompiler(ctx context.Context) (cc, version string, err error) {
	a, err := k.Machine()
	if err != nil {
		return "", "", err
	}
	if !foreign(a) {
		return "", "", nil
	}
	cc, err = CompilerCommand(k.Compiler, a)
	if err != nil {
		return "", "", err
	}
	if _, err := exec.LookPath(cc); err != nil {
		return "", "", nil
	}
	version, err = CompilerVersion(ctx, cc)
	if err != nil {
		return "", "", fmt.Errorf("cross compiler %s: %w", cc, err)
	}
	return cc, version, nil
}

// ErrCrossConfig means the kernel's configuration, read again with the
// cross compiler, is not the same as with the kernel's: Kconfig symbols
// that depend on the compiler's abilities differ, and objects built with
// it would not be built like the kernel's.
var ErrCrossConfig = errors.New("the configuration with the cross compiler differs from the kernel's")

// CrossTree returns the kernel's O= tree for builds with the cross
// compiler cc: build-cross in the kernel's cache, copied once from the
// kernel's build tree and configured with cc (make olddefconfig prepare),
// kept like the kernel's. Its .config must be the kernel's but for the
// compiler's version text; the error wraps ErrCrossConfig when it is not.
// The caller holds the kernel's lock.
func (k *Kernel) CrossTree(ctx context.Context, cc string) (Tree, error) {
	a, err := k.Machine()
	if err != nil {
		return Tree{}, err
	}
	t := Tree{Source: k.Source, Build: filepath.Join(k.Dir, "build-cross"), MakeVars: MakeVars(cc, k.Release, a)}
	cfg, err := os.ReadFile(filepath.Join(k.Build, ".config"))
	if err != nil {
		return Tree{}, err
	}
	// The tree is the cross compiler's copy of the kernel's tree as it is
	// now: a kernel prepared again (lab fetch) makes it stale.
	stamp := fmt.Sprintf("%s\n%x\n", cc, sha256.Sum256(cfg))
	if b, err := os.ReadFile(filepath.Join(t.Build, ".ksplice-cross")); err == nil && string(b) == stamp {
		return t, nil
	}
	tmp := t.Build + ".tmp"
	// Workspaces copied from a stale tree are stale too.
	for _, d := range []string{t.Build, tmp, filepath.Join(k.Dir, "post", "build-cross"), filepath.Join(k.Dir, "base", "build-cross")} {
		if err := os.RemoveAll(d); err != nil {
			return Tree{}, err
		}
	}
	if err := run.New("cp", "-a", k.Build, tmp).Run(ctx); err != nil {
		os.RemoveAll(tmp)
		return Tree{}, fmt.Errorf("make the cross build tree: %w", err)
	}
	pt := t
	pt.Build = tmp
	if err := pt.Prepare(ctx, cfg); err != nil {
		os.RemoveAll(tmp)
		return Tree{}, fmt.Errorf("cross build tree: %w", err)
	}
	got, err := os.ReadFile(filepath.Join(tmp, ".config"))
	if err != nil {
		os.RemoveAll(tmp)
		return Tree{}, err
	}
	if d := configDiff(cfg, got); len(d) > 0 {
		os.RemoveAll(tmp)
		return Tree{}, fmt.Errorf("%w: %s", ErrCrossConfig, strings.Join(d, ", "))
	}
	if err := os.WriteFile(filepath.Join(tmp, ".ksplice-cross"), []byte(stamp), 0o644); err != nil {
		os.RemoveAll(tmp)
		return Tree{}, err
	}
	if err := os.Rename(tmp, t.Build); err != nil {
		return Tree{}, err
	}
	return t, nil
}

// configDiff lists the symbols two .config files set differently, other
// than CONFIG_CC_VERSION_TEXT. "# CONFIG_X is not set" is a comment like the
// others: an unset symbol and one Kconfig did not show are both n, and
// Kbuild sees neither (the native gcc under qemu-user fails Kconfig's test
// of -gsplit-dwarf, which hides DEBUG_INFO_SPLIT, unset in Debian's config).
func configDiff(a, b []byte) []string {
	lines := func(c []byte) map[string]bool {
		m := map[string]bool{}
		for _, l := range bytes.Split(c, []byte("\n")) {
			s := string(l)
			if s == "" || strings.HasPrefix(s, "#") || strings.HasPrefix(s, "CONFIG_CC_VERSION_TEXT=") {
				continue
			}
			m[s] = true
		}
		return m
	}
	la, lb := lines(a), lines(b)
	var d []string
	for l := range la {
		if !lb[l] {
			d = append(d, "-"+l)
		}
	}
	for l := range lb {
		if !la[l] {
			d = append(d, "+"+l)
		}
	}
	sort.Strings(d)
	return d
}
