package create

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// FindKmodSrc finds the engine's sources (kmod-src/): dir if given, else
// $KSPLICE_KMOD_SRC, else kmod-src beside the binary's directory (a
// checkout's bin/ksplice), else share/ksplice/kmod-src under /usr/local or
// /usr (make install puts them there). The sources
// cannot live inside the Go binary: Go refuses packages holding C files.
func FindKmodSrc(dir string) (string, error) {
	var cands []string
	if dir != "" {
		cands = append(cands, dir)
	} else {
		if env := os.Getenv("KSPLICE_KMOD_SRC"); env != "" {
			cands = append(cands, env)
		}
		if exe, err := os.Executable(); err == nil {
			cands = append(cands, filepath.Join(filepath.Dir(exe), "..", "kmod-src"))
		}
		cands = append(cands, "/usr/local/share/ksplice/kmod-src", "/usr/share/ksplice/kmod-src")
	}
	for _, c := range cands {
		if _, err := os.Stat(filepath.Join(c, "ksplice.h")); err == nil {
			return filepath.Abs(c)
		}
	}
	if dir != "" {
		return "", fmt.Errorf("--kmod-src %s: no ksplice.h there", dir)
	}
	return "", errors.New("cannot find the engine's sources (kmod-src/ with ksplice.h): set KSPLICE_KMOD_SRC or --kmod-src")
}
