package repo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
	"github.com/google/renameio/v2"

	"github.com/ksplice-go/ksplice/internal/update"
)

// LockName is the file in a repository directory that publishers lock, so
// that two publishes into one directory run one after the other.
const LockName = ".publish.lock"

// PublishOptions control Publish.
type PublishOptions struct {
	// Sign signs the new index; nil writes an unsigned one.
	Sign Signer
	// Verify, when set, checks the signature of the index already in the
	// directory before anything is added to it, so that a tampered index
	// is never signed again.
	Verify Verifier
	// Tool is written into the index ("ksplice VERSION").
	Tool string
	// Now stamps the index and the new entries; default time.Now.
	Now func() time.Time
	// KeepPublished keeps an update already published under the same id
	// and release when the tarball given differs from it, instead of
	// refusing it as a conflict: a pipeline that rebuilds the same patch
	// (update tarballs are not byte-for-byte reproducible) leaves the
	// published, tried update as it is.
	KeepPublished bool
}

// Published is what Publish did with one tarball.
type Published struct {
	Entry
	// Already is set when the repository had the same update (same id,
	// release and sha256) before: nothing was written for it.
	Already bool `json:"already"`
	// Kept is set when the repository had an update with the same id and
	// release but other contents, kept by KeepPublished; Entry is the
	// published one.
	Kept bool `json:"kept,omitempty"`
}

// PublishResult is what Publish did.
type PublishResult struct {
	Updates []Published `json:"updates"`
	// Wrote says whether the index was written (something was added, the
	// repository was new, or it was signed again).
	Wrote bool `json:"wrote_index"`
	// Signed says whether the index written is signed.
	Signed bool `json:"signed"`
}

// Publish adds the update tarballs to the repository in dir (created if
// missing): each is verified (update.Read), copied to
// updates/RELEASE/ID.tar, and appended to its kernel release's list in the
// index, in the order given, after the updates already there. An update
// already published with the same contents is left as it is; one with the
// same id and release but other contents is refused (ErrConflict) and
// nothing is written, unless o.KeepPublished. Every file is written to a temporary name and renamed
// into place, the tarballs before the index, so a reader sees the old
// repository or the new one, never half of one. Publishing no tarball
// writes the index again (to sign it with another key). Errors wrap
// ErrConflict, ErrFormat, ErrSignature or update's errors.
func Publish(dir string, tarballs []string, o PublishOptions) (*PublishResult, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	now := o.Now().UTC().Truncate(time.Second)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	lock := flock.New(filepath.Join(dir, LockName))
	if err := lock.Lock(); err != nil {
		return nil, fmt.Errorf("publish: lock %s: %w", dir, err)
	}
	defer lock.Unlock()

	ix := &Index{Format: FormatVersion, Kernels: map[string][]Entry{}}
	existing := false
	switch b, err := os.ReadFile(filepath.Join(dir, IndexName)); {
	case err == nil:
		d, err := Decode(b, o.Verify, o.Verify == nil)
		if err != nil {
			return nil, fmt.Errorf("publish: the index in %s: %w", dir, err)
		}
		ix, existing = d.Index, true
	case errors.Is(err, os.ErrNotExist):
	default:
		return nil, fmt.Errorf("publish: %w", err)
	}

	// Everything is read and checked before anything is written.
	type pending struct {
		entry Entry
		data  []byte
	}
	var (
		res    = &PublishResult{}
		writes []pending
	)
	for _, name := range tarballs {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		u, err := update.Read(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("publish: %s: %w", name, err)
		}
		m := u.Manifest
		if !ValidRelease(m.Kernel.Release) {
			return nil, fmt.Errorf("publish: %s: %w: kernel release %q cannot name a directory", name, ErrFormat, m.Kernel.Release)
		}
		sum := sha256.Sum256(b)
		e := Entry{
			ID:          m.ID,
			Description: m.Description,
			Release:     m.Kernel.Release,
			Machine:     m.Kernel.Machine,
			File:        path.Join("updates", m.Kernel.Release, m.ID+".tar"),
			SHA256:      hex.EncodeToString(sum[:]),
			Size:        int64(len(b)),
			Published:   now,
		}
		if old, ok := find(ix.Kernels[e.Release], e.ID); ok {
			if old.SHA256 != e.SHA256 && o.KeepPublished {
				res.Updates = append(res.Updates, Published{Entry: old, Already: true, Kept: true})
				continue
			}
			if old.SHA256 != e.SHA256 {
				return nil, fmt.Errorf("publish: %s: %w: %s for %s is already published with sha256 %s, this one has %s (give the new update another id: create --id)",
					name, ErrConflict, e.ID, e.Release, old.SHA256, e.SHA256)
			}
			res.Updates = append(res.Updates, Published{Entry: old, Already: true})
			continue
		}
		ix.Kernels[e.Release] = append(ix.Kernels[e.Release], e)
		writes = append(writes, pending{e, b})
		res.Updates = append(res.Updates, Published{Entry: e})
	}
	if existing && len(writes) == 0 && len(tarballs) > 0 {
		return res, nil
	}

	for _, w := range writes {
		p := filepath.Join(dir, filepath.FromSlash(w.entry.File))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		if err := renameio.WriteFile(p, w.data, 0o644); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
	}
	ix.Format = FormatVersion
	ix.Generated = now
	ix.Tool = o.Tool
	b, err := Encode(ix, o.Sign)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	if err := renameio.WriteFile(filepath.Join(dir, IndexName), b, 0o644); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	res.Wrote, res.Signed = true, o.Sign != nil
	return res, nil
}

func find(es []Entry, id string) (Entry, bool) {
	for _, e := range es {
		if e.ID == id {
			return e, true
		}
	}
	return Entry{}, false
}
