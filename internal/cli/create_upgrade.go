package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/lab"
	upg "github.com/ksplice-go/ksplice/internal/upgrade"
)

// runCreateUpgrade is create --upgrade-to.
func runCreateUpgrade(ctx context.Context, opts *createOptions, s Streams) error {
	switch {
	case opts.Src != "":
		return &usageError{errors.New("create: --upgrade-to needs a distribution kernel (--kernel debian:RELEASE): a --src tree has no release to upgrade from")}
	case opts.Hooks != "" || len(opts.AllowData) > 0 || len(opts.After) > 0 || opts.ID != "" || opts.Description != "":
		return &usageError{errors.New("create: --hooks, --allow-data, --after, --id and --description are for one patch, not --upgrade-to")}
	}
	if opts.Kernel == "" {
		spec, err := runningKernelSpec()
		if err != nil {
			return err
		}
		opts.Kernel = spec
		fmt.Fprintf(s.ErrOut, "create: for the running kernel, %s (--kernel for another)\n", spec)
	}
	spec, err := lab.ParseSpec(opts.Kernel)
	if err != nil {
		return err
	}
	k, err := lab.Fetch(ctx, spec, lab.FetchOptions{CacheDir: opts.Cache, Log: s.ErrOut})
	if err != nil {
		return err
	}
	out := opts.Output
	if out == "" {
		out = "ksplice-upgrade-" + opts.UpgradeTo
	}
	kmodSrc, err := create.FindKmodSrc(opts.KmodSrc)
	if err != nil {
		return err
	}
	hash, err := toolHash(kmodSrc)
	if err != nil {
		fmt.Fprintf(s.ErrOut, "create: warning: no cache of made updates: %v\n", err)
	}
	r, err := upg.Run(ctx, upg.Options{
		Kernel: k, To: opts.UpgradeTo, CacheDir: opts.Cache, Output: out, Jobs: opts.Jobs,
		MaxObjects: opts.MaxObjects, MaxScan: opts.MaxScan, KmodSrc: kmodSrc, Tool: "ksplice " + Version, ToolHash: hash,
		Targets: opts.Targets, Files: opts.Files, Plan: opts.Plan, CachedOnly: opts.CachedOnly, Log: s.ErrOut,
		Release: func(ctx context.Context) string {
			return upg.DebianRelease(ctx, k.Release, opts.UpgradeTo)
		},
	})
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(s.Out, r)
	}
	if err := r.WriteTable(s.Out, opts.All); err != nil {
		return err
	}
	fmt.Fprintf(s.Out, "wrote %s/report.json, %s/report.html and %d updates in %.0fs\n", out, out, r.Summary.UpdatesCarried, r.Seconds)
	return nil
}

// toolHash identifies this build of ksplice and the engine sources it
// puts in updates: the key under which made updates are kept.
func toolHash(kmodSrc string) (string, error) {
	h := sha256.New()
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	if err := hashFile(h, exe); err != nil {
		return "", err
	}
	var files []string
	err = filepath.WalkDir(kmodSrc, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n := d.Name()
		if !d.IsDir() && (n == "Kbuild" || strings.HasSuffix(n, ".h") || strings.HasSuffix(n, ".c") && !strings.HasSuffix(n, ".mod.c")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	for _, f := range files {
		fmt.Fprintf(h, "%s\n", strings.TrimPrefix(f, kmodSrc))
		if err := hashFile(h, f); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func hashFile(w io.Writer, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
