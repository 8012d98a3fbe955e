package create

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ksplice-go/ksplice/internal/kbuild"
)

// unitStoreFormat changes when what a stored unit is changes (scanFlags,
// the compression): stores of other formats are never read.
const unitStoreFormat = 1

// unitStoreBudget bounds the bytes the stores of a kernel take on disk;
// the least recently used units go first. A unit takes about a seventh
// of its text (net/ipv4/route.i: 5 MB, 0.8 MB stored), so the budget
// keeps the pre side of about 5000 objects: the 2418 includers of
// include/net/dst.h, shared by the net/ fixes of a release, with room
// for another header's (2 GiB held the dst.h set alone).
const unitStoreBudget = 4 << 30

// unitStore keeps the preprocessed units (the scan's text) of the
// kernel's pristine tree, which never changes: every scan of a release
// preprocesses an object's pre side the same way, whatever header the
// patch changes, and the preprocessor is most of a scan's time. The
// post side depends on the patch and is never stored.
//
// A store is keyed by everything the text depends on but the object: the
// kernel (its packages and compiler), the source and build trees, the
// make variables and the headers for patch authors. Used under the
// kernel's lock.
type unitStore struct {
	root string // the kernel's stores: one directory per key
	dir  string // this key's
	// warn gets what the store could not do: a unit it could not
	// keep is preprocessed again next time, which is only slower.
	warn   io.Writer
	warnMu sync.Mutex // the scan's workers put units at once
}

func (s *unitStore) warnf(format string, args ...any) {
	if s.warn == nil {
		return
	}
	s.warnMu.Lock()
	defer s.warnMu.Unlock()
	fmt.Fprintf(s.warn, "create: warning: "+format+"\n", args...)
}

// newUnitStore returns the store of the units t preprocesses, t being k's
// pristine tree (Kernel.Source), or nil if t is not (a tree with earlier
// patches applied is a scratch copy that changes).
//
// Only a packaged kernel's tree is pristine for good: a source tree given
// by its directory (src:DIR) is the user's to change.
func newUnitStore(k *kbuild.Kernel, t kbuild.Tree, warn io.Writer) (*unitStore, error) {
	if t.Source != k.Source || k.Version == "" || len(k.Packages) == 0 {
		return nil, nil
	}
	h := sha256.New()
	fmt.Fprintf(h, "format %d\nspec %s\nversion %s\ncompiler %s\nsource %s\nbuild %s\nnative %v\nflags %s\n",
		unitStoreFormat, k.Spec, k.Version, k.Compiler, t.Source, t.Build, t.Native, scanFlags)
	fmt.Fprintf(h, "make %q\nKCPPFLAGS %q\n", t.MakeVars, os.Getenv("KCPPFLAGS"))
	// The compiler that runs, as installed now (its package may be
	// upgraded): each word of CC that is a program, by its size and
	// time.
	for _, v := range t.MakeVars {
		cc, ok := strings.CutPrefix(v, "CC=")
		if !ok {
			continue
		}
		for _, w := range strings.Fields(cc) {
			p, err := exec.LookPath(w)
			if err != nil {
				continue
			}
			if p, err = filepath.EvalSymlinks(p); err != nil {
				return nil, fmt.Errorf("unit store key: %w", err)
			}
			info, err := os.Stat(p)
			if err != nil {
				return nil, fmt.Errorf("unit store key: %w", err)
			}
			fmt.Fprintf(h, "cc %s %d %d\n", p, info.Size(), info.ModTime().UnixNano())
		}
	}
	pkgs := make([]string, 0, len(k.Packages))
	for p, v := range k.Packages {
		pkgs = append(pkgs, p+"="+v)
	}
	sort.Strings(pkgs)
	fmt.Fprintf(h, "packages %q\n", pkgs)
	if t.Include != "" {
		hs, err := filepath.Glob(filepath.Join(t.Include, "*"))
		if err != nil {
			return nil, err
		}
		for _, f := range hs {
			b, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("unit store key: %w", err)
			}
			fmt.Fprintf(h, "include %s %x\n", filepath.Base(f), sha256.Sum256(b))
		}
	}
	root := filepath.Join(k.Dir, "scan-units")
	return &unitStore{root: root, dir: filepath.Join(root, fmt.Sprintf("%x", h.Sum(nil))[:24]), warn: warn}, nil
}

func (s *unitStore) path(obj string) string {
	return filepath.Join(s.dir, strings.TrimSuffix(obj, ".o")+".i.z")
}

// has reports whether obj's unit is stored.
func (s *unitStore) has(obj string) bool {
	if s == nil {
		return false
	}
	_, err := os.Stat(s.path(obj))
	return err == nil
}

// get returns obj's unit, and marks it used.
func (s *unitStore) get(obj string) ([]byte, error) {
	p := s.path(obj)
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := flate.NewReader(f)
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		os.Remove(p) // preprocessed again next time
		return nil, fmt.Errorf("stored unit %s: %w", p, err)
	}
	now := time.Now()
	os.Chtimes(p, now, now)
	return b, nil
}

// put stores obj's unit, text: written beside, synced and renamed, so
// that a unit read is always whole. A failure is only a warning.
func (s *unitStore) put(obj string, text []byte) {
	if s == nil {
		return
	}
	if err := s.write(obj, text); err != nil {
		s.warnf("the scan could not keep %s's unit (it is preprocessed again next time): %v", obj, err)
	}
}

func (s *unitStore) write(obj string, text []byte) error {
	p := s.path(obj)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestSpeed)
	if err != nil {
		return err
	}
	if _, err := w.Write(text); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	tmp := p + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.Write(buf.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// trim deletes the least recently used units of all the kernel's stores
// until they take at most budget bytes, and the directories it empties.
// A failure is only a warning.
func (s *unitStore) trim(budget int64) {
	if s == nil {
		return
	}
	if err := s.trimTo(budget); err != nil {
		s.warnf("the scan could not trim its units in %s: %v", s.root, err)
	}
}

func (s *unitStore) trimTo(budget int64) error {
	type unit struct {
		path string
		size int64
		used time.Time
	}
	var units []unit
	var total int64
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // gone meanwhile
		}
		units = append(units, unit{p, info.Size(), info.ModTime()})
		total += info.Size()
		return nil
	})
	if err != nil {
		return fmt.Errorf("trim the stored units: %w", err)
	}
	if total <= budget {
		return nil
	}
	sort.Slice(units, func(i, j int) bool { return units[i].used.Before(units[j].used) })
	for _, u := range units {
		if total <= budget {
			break
		}
		if err := os.Remove(u.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		total -= u.size
		// The directories it leaves empty, up to the root (a
		// directory that is not empty stays).
		for dir := filepath.Dir(u.path); dir != s.root && strings.HasPrefix(dir, s.root); dir = filepath.Dir(dir) {
			if os.Remove(dir) != nil {
				break
			}
		}
	}
	return nil
}
