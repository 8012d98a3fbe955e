package create

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/patchgen"
)

// engineFiles lists the engine's source files under kmodSrc: Kbuild and the
// C sources and headers, arch directories included, not build products.
func engineFiles(kmodSrc string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(kmodSrc, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(kmodSrc, p)
		base := d.Name()
		if base == "Kbuild" || strings.HasSuffix(base, ".h") ||
			strings.HasSuffix(base, ".c") && !strings.HasSuffix(base, ".mod.c") {
			files = append(files, rel)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// buildEngine builds ksplice.ko for k from kmodSrc, once per kernel and
// engine source: the result is kept in the kernel's cache directory under a
// hash of the sources, and reused.
func buildEngine(ctx context.Context, k *kbuild.Kernel, kmodSrc string) (string, error) {
	files, err := engineFiles(kmodSrc)
	if err != nil {
		return "", fmt.Errorf("engine sources: %w", err)
	}
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(kmodSrc, f))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	dir := filepath.Join(k.Dir, "engine", hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dir, "ksplice.ko")); err == nil {
		return dir, nil
	}
	unlock, err := k.Lock(nil)
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, "ksplice.ko")); err == nil {
		return dir, nil
	}
	tmp := dir + ".partial"
	os.RemoveAll(tmp)
	for _, f := range files {
		if err := copyFile(filepath.Join(kmodSrc, f), filepath.Join(tmp, f)); err != nil {
			return "", err
		}
	}
	if _, err := kbuild.BuildModule(ctx, k, tmp, nil); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("build the engine: %w", err)
	}
	os.RemoveAll(dir)
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// buildUpdateModule writes a generated module's sources into dir, with the
// engine's table header, and builds it against k's headers and the
// engine's exports. It returns the .ko's path.
func buildUpdateModule(ctx context.Context, k *kbuild.Kernel, m *patchgen.Module, dir, kmodSrc, engine string) (string, error) {
	for name, b := range m.Files {
		if err := writeFile(filepath.Join(dir, name), b); err != nil {
			return "", err
		}
	}
	// The author headers, for a hook file (--hooks) that includes them,
	// then the engine's table header.
	if _, err := copyAuthorHeaders(filepath.Join(kmodSrc, "include"), filepath.Join(dir, "include")); err != nil {
		return "", err
	}
	if err := copyFile(filepath.Join(kmodSrc, "ksplice.h"), filepath.Join(dir, "include", "ksplice.h")); err != nil {
		return "", err
	}
	kos, err := kbuild.BuildModule(ctx, k, dir, nil, "KBUILD_EXTRA_SYMBOLS="+filepath.Join(engine, "Module.symvers"))
	if err != nil {
		return "", fmt.Errorf("build update module %s: %w", m.Name, err)
	}
	for _, ko := range kos {
		if filepath.Base(ko) == m.Name+".ko" {
			return ko, nil
		}
	}
	return "", fmt.Errorf("build update module %s: no %s.ko made", m.Name, m.Name)
}

func writeFile(name string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	return os.WriteFile(name, b, 0o644)
}
