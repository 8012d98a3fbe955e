package kbuild

import (
	"os"
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

// Make returns the make command with args for the tree, in the tree's
// environment: the compile cache (CCacheEnv) for its compiler.
func (t Tree) Make(args ...string) *run.Cmd {
	mk := run.New("make", args...)
	mk.Env = CCacheEnv(compiler(t.MakeVars))
	return mk
}
