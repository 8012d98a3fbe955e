package kbuild

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/ksplice-go/ksplice/internal/run"
)

// CCacheLinks is the directory of symbolic links to ccache named as the
// compilers (Debian's ccache package makes them, also for the cross
// compilers installed with it: gcc-12, x86_64-linux-gnu-gcc-12,
// aarch64-linux-gnu-gcc-12). Put first on PATH, it makes Kbuild's own
// "gcc-12 ..." command lines run through ccache without changing them:
// the .cmd files Kbuild records, and so its decisions about what to
// rebuild, stay what they are without the cache.
var CCacheLinks = "/usr/lib/ccache"

// CCacheMaxSize bounds the compile cache (ccache evicts the least recently
// used results beyond it). One object of a Debian kernel, with its debug
// information, is 0.1 to 2 MB compressed; a release delta of 6.1 touches a
// few thousand objects.
const CCacheMaxSize = "8G"

// CCacheDir is the compile cache's directory: $KSPLICE_CCACHE_DIR, else
// ccache/ in the kernel cache (CacheDir). ccache keys every result by the
// compiler (its path, size and mtime), the whole command line and the
// preprocessed source, so one directory serves every kernel and compiler.
func CCacheDir() string {
	if d := os.Getenv("KSPLICE_CCACHE_DIR"); d != "" {
		return d
	}
	return filepath.Join(CacheDir(""), "ccache")
}

// CCacheEnv returns the environment that makes make run the compiler cc
// through ccache, or nil when it is turned off (KSPLICE_CCACHE=0) or
// ccache has no link named cc (not installed: make deps installs it).
//
// No CCACHE_BASEDIR: with it, ccache would hash paths under the base
// relative and hand an object compiled in one tree to a compile in
// another, with the first tree's paths in its debug information. The
// trees create builds in are persistent (the kernel's build tree and its
// post/ workspace), so their paths repeat and hits need no rewriting;
// with absolute paths hashed (and the working directory, hash_dir, ccache's
// default with -g), a hit is the very object the compiler would have
// written (TestCCacheIdentical).
func CCacheEnv(cc string) []string {
	if os.Getenv("KSPLICE_CCACHE") == "0" || cc == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(CCacheLinks, filepath.Base(cc))); err != nil {
		return nil
	}
	return []string{
		"PATH=" + CCacheLinks + string(os.PathListSeparator) + os.Getenv("PATH"),
		"CCACHE_DIR=" + CCacheDir(),
		"CCACHE_MAXSIZE=" + CCacheMaxSize,
	}
}

// compiler returns the CC of make variables.
func compiler(vars []string) string {
	for _, v := range vars {
		if cc, ok := strings.CutPrefix(v, "CC="); ok {
			return cc
		}
	}
	return ""
}

// emulatedCCache returns, for a compiler given by its absolute path with no
// ccache link of its name (the native toolchain's driver the lab runs under
// user-mode QEMU, minutes per object), the CC that runs it through ccache
// and the environment ccache needs; "" when it is not such a compiler or
// the cache is off. ccache's default check of the compiler (its mtime and
// size) would see only the driver script; CCACHE_COMPILERCHECK makes it
// hash what `CC -v` prints instead: the gcc, its Debian version, its
// target and configuration, and the toolchain's root, so that a hit never
// crosses compilers, not even two extractions of one gcc.
func emulatedCCache(cc string) (string, []string) {
	if os.Getenv("KSPLICE_CCACHE") == "0" || !filepath.IsAbs(cc) || strings.ContainsAny(cc, " \t") {
		return "", nil
	}
	if _, err := os.Stat(filepath.Join(CCacheLinks, filepath.Base(cc))); err == nil {
		return "", nil
	}
	ccache, err := exec.LookPath("ccache")
	if err != nil {
		return "", nil
	}
	return ccache + " " + cc, []string{
		"CCACHE_DIR=" + CCacheDir(),
		"CCACHE_MAXSIZE=" + CCacheMaxSize,
		"CCACHE_COMPILERCHECK=%compiler% -v",
	}
}

// Make returns the make command with args for the tree, in the tree's
// environment: the compile cache (CCacheEnv) for its compiler, or for an
// emulated compiler (emulatedCCache) its CC argument rewritten to run
// through ccache.
func (t Tree) Make(args ...string) *run.Cmd {
	cc := compiler(t.MakeVars)
	if wrapped, env := emulatedCCache(cc); wrapped != "" {
		args = append([]string{}, args...)
		for i, a := range args {
			if a == "CC="+cc {
				args[i] = "CC=" + wrapped
			}
		}
		mk := run.New("make", args...)
		mk.Env = env
		return mk
	}
	mk := run.New("make", args...)
	mk.Env = CCacheEnv(cc)
	return mk
}
