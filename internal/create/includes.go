package create

import (
	"bufio"
	"bytes"
	"encoding/gob"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/google/renameio/v2"

	"github.com/ksplice-go/ksplice/internal/kbuild"
)

var includeLine = regexp.MustCompile(`^\s*#\s*include\s*([<"])([^>"]+)[>"]`)

// includeIndex maps each spelling of an #include ("<linux/fs.h>" becomes
// "linux/fs.h", "internal.h" stays) to the files of the tree that use it.
type includeIndex map[string][]string

// skipDirs hold no kernel code that Kbuild builds into the kernel.
var skipDirs = map[string]bool{
	"Documentation": true, "tools": true, "scripts": true, "samples": true, "usr": true, ".git": true,
}

// includedExt are the extensions of the files C code is made of: .c and
// .h, and those the kernel's .c and .h files also #include (6.1's
// wanxl.c includes wanxlfw.inc, apparmor's match.c nulldfa.in), which
// may name what a patch changes too.
var includedExt = map[string]bool{".c": true, ".h": true, ".inc": true, ".inl": true, ".def": true, ".in": true, ".pro": true}

// sourceFiles lists the files of tree that may be kernel code (of
// includedExt, not under skipDirs), relative to it.
func sourceFiles(tree string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tree, p)
		if d.IsDir() {
			if skipDirs[rel] {
				return filepath.SkipDir
			}
			return nil
		}
		if includedExt[filepath.Ext(rel)] {
			files = append(files, rel)
		}
		return nil
	})
	return files, err
}

// indexIncludes reads every .c and .h file of the tree for its includes.
func indexIncludes(tree string) (includeIndex, error) {
	files, err := sourceFiles(tree)
	if err != nil {
		return nil, err
	}
	idx := includeIndex{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	work := make(chan string)
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[string][]string{}
			for rel := range work {
				f, err := os.Open(filepath.Join(tree, rel))
				if err != nil {
					continue
				}
				sc := bufio.NewScanner(f)
				sc.Buffer(make([]byte, 64<<10), 4<<20)
				for sc.Scan() {
					b := sc.Bytes()
					if len(b) == 0 || (b[0] != '#' && b[0] != ' ' && b[0] != '\t') {
						continue
					}
					if m := includeLine.FindSubmatch(b); m != nil {
						local[string(m[2])] = append(local[string(m[2])], rel)
					}
				}
				f.Close()
			}
			mu.Lock()
			for k, v := range local {
				idx[k] = append(idx[k], v...)
			}
			mu.Unlock()
		}()
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	return idx, nil
}

// spellings returns how a file of the tree may be named in an #include:
// relative to an include directory (include/, include/uapi/,
// arch/ARCH/include/, arch/ARCH/include/uapi/), or by its path from the
// including file's directory.
func spellings(header, srcarch string) []string {
	var out []string
	for _, dir := range []string{"include/uapi/", "include/", "arch/" + srcarch + "/include/uapi/", "arch/" + srcarch + "/include/"} {
		if rest, ok := strings.CutPrefix(header, dir); ok {
			out = append(out, rest)
			break
		}
	}
	return out
}

// includers returns the .c files of the tree that include header, directly
// or through other headers. It over-approximates (a spelling may resolve
// elsewhere for some includer): extra objects are built and found
// unchanged, while a missed one would ship a stale function.
func (idx includeIndex) includers(header, srcarch string) []string {
	return idx.includersByBase(header, srcarch, idx.byBase())
}

// byBase groups the spellings of the index by their last element
// ("../x.h" and "sub/x.h" under "x.h"), so that finding the quoted
// includes of a header reads a few spellings, not all of them.
func (idx includeIndex) byBase() map[string][]string {
	m := map[string][]string{}
	for sp := range idx {
		b := path.Base(sp)
		m[b] = append(m[b], sp)
	}
	return m
}

// includersByBase is includers with the index's byBase.
func (idx includeIndex) includersByBase(header, srcarch string, byBase map[string][]string) []string {
	seen := map[string]bool{header: true}
	queue := []string{header}
	var cfiles []string
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		var users []string
		for _, sp := range spellings(h, srcarch) {
			users = append(users, idx[sp]...)
		}
		// Quoted, relative to the includer: "x.h", "../x.h", "sub/x.h".
		for _, spelling := range byBase[path.Base(h)] {
			for _, f := range idx[spelling] {
				if path.Clean(path.Join(path.Dir(f), spelling)) == h {
					users = append(users, f)
				}
			}
		}
		for _, u := range users {
			if seen[u] {
				continue
			}
			seen[u] = true
			if strings.HasSuffix(u, ".c") {
				cfiles = append(cfiles, u)
			}
			// A .c file may itself be included by another.
			queue = append(queue, u)
		}
	}
	sort.Strings(cfiles)
	return cfiles
}

// loadIncludeIndex returns the include index of a kernel's pristine source,
// made once and kept in the kernel's cache directory (7 s to make, 0.3 s
// to load).
func loadIncludeIndex(cacheDir, tree string) (includeIndex, error) {
	// v2: the files of every includedExt, not only .c and .h.
	p := filepath.Join(cacheDir, "includes-v2.gob")
	if f, err := os.Open(p); err == nil {
		defer f.Close()
		var idx includeIndex
		if err := gob.NewDecoder(f).Decode(&idx); err == nil {
			return idx, nil
		}
	}
	idx, err := indexIncludes(tree)
	if err != nil {
		return nil, fmt.Errorf("index the includes of %s: %w", tree, err)
	}
	// A cache we cannot write only costs time: the error is dropped.
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(idx); err == nil {
		_ = renameio.WriteFile(p, buf.Bytes(), 0o644)
	}
	return idx, nil
}

// Includers returns a function that lists the .c files of k's pristine
// source that include a file of the tree, directly or through headers or
// other .c files (see includeIndex.includers). The index is read, or made,
// on the first call: callers that never ask pay nothing. Each file's answer
// is kept (a header that thousands of files include takes seconds to
// follow, and every update of a release asks again about the release's
// headers), and the function may be called from several goroutines; the
// slices it returns are shared and must not be changed.
func Includers(k *kbuild.Kernel) func(file string) ([]string, error) {
	var (
		mu     sync.Mutex
		idx    includeIndex
		byBase map[string][]string
		known  = map[string][]string{}
	)
	return func(file string) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		if users, ok := known[file]; ok {
			return users, nil
		}
		if idx == nil {
			var err error
			if idx, err = loadIncludeIndex(k.Dir, k.Source); err != nil {
				return nil, err
			}
			byBase = idx.byBase()
		}
		users := idx.includersByBase(file, k.SrcArch(), byBase)
		known[file] = users
		return users, nil
	}
}
