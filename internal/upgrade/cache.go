package upgrade

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
)

// The cache of created updates: CACHE/upgrade/SPEC/KEY holds outcome.json
// and, for a carried update, update.tar. The key hashes the kernel, the
// patch, the budget and the build of ksplice (Options.ToolHash), so a
// re-run reuses exactly what it would make again; without a ToolHash
// nothing is cached.

const outcomeFile = "outcome.json"

func (u *upgrader) cached(key string) (Outcome, bool) {
	var oc Outcome
	if u.o.ToolHash == "" {
		return oc, false
	}
	b, err := os.ReadFile(filepath.Join(u.cacheDir(key), outcomeFile))
	if err != nil || json.Unmarshal(b, &oc) != nil {
		return oc, false
	}
	if oc.Output != "" {
		if _, err := os.Stat(filepath.Join(u.cacheDir(key), "update.tar")); err != nil {
			return oc, false
		}
	}
	return oc, true
}

// store keeps an outcome, and its tarball, for the next run. Errors
// (kept results only save time) are dropped, and outcomes of failures
// that may be passing (a tool error) are not kept.
func (u *upgrader) store(key string, oc Outcome) {
	if u.o.ToolHash == "" || oc.Rule == RuleError {
		return
	}
	dir := u.cacheDir(key)
	tmp := dir + ".partial"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return
	}
	if oc.Output != "" {
		if err := linkOrCopy(oc.Output, filepath.Join(tmp, "update.tar")); err != nil {
			os.RemoveAll(tmp)
			return
		}
	}
	b, _ := json.MarshalIndent(oc, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, outcomeFile), b, 0o644); err != nil {
		os.RemoveAll(tmp)
		return
	}
	os.RemoveAll(dir)
	if os.Rename(tmp, dir) != nil {
		os.RemoveAll(tmp)
	}
}

// linkOrCopy makes dst the same content as src: a hard link, or a copy
// across file systems.
func linkOrCopy(src, dst string) error {
	os.Remove(dst)
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
