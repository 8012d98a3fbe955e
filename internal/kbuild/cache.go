package kbuild

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"
)

// DefaultCacheDir is where prepared kernels live, one directory each under
// kernels/, unless KSPLICE_CACHE or an explicit directory says otherwise.
const DefaultCacheDir = "/var/cache/ksplice"

// CacheDir returns the cache directory to use: dir if set, else
// $KSPLICE_CACHE, else DefaultCacheDir.
func CacheDir(dir string) string {
	if dir != "" {
		return dir
	}
	if env := os.Getenv("KSPLICE_CACHE"); env != "" {
		return env
	}
	return DefaultCacheDir
}

// Lock takes the lock of the kernel whose directory in the cache is dir,
// which its preparation (lab.Fetch, FromSource) and all work that writes
// into the directory (building objects in its Build tree, for one) hold,
// and returns the function that releases it. waiting, when set, is called
// first if another process holds it.
//
// The lock is an exclusive flock(2) of the file dir+".lock". Locks die with
// the process, so a crashed fetch never leaves the cache locked.
func Lock(dir string, waiting func()) (unlock func(), err error) {
	path := dir + ".lock"
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	l := flock.New(path, flock.SetPermissions(0o644))
	ok, err := l.TryLock()
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		if waiting != nil {
			waiting()
		}
		if err := l.Lock(); err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
	}
	return func() { l.Unlock() }, nil
}

// stampName marks a stage directory as complete.
const stampName = ".ksplice-complete"

// Stage makes dir by calling build on it, then marks it complete; a
// complete dir is left as it is. A dir without the mark is the remains of an
// interrupted or failed stage: it is removed and made again, never mistaken
// for a good one. Stages are built in place because Kbuild output trees
// record their own path. The caller holds the kernel's lock.
func Stage(dir string, build func(dir string) error) error {
	stamp := filepath.Join(dir, stampName)
	if _, err := os.Stat(stamp); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := build(dir); err != nil {
		os.RemoveAll(dir)
		return err
	}
	return os.WriteFile(stamp, nil, 0o644)
}

// Complete reports whether dir is a finished stage.
func Complete(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, stampName))
	return err == nil
}
