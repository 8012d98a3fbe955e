package repo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"time"

	"github.com/ksplice-go/ksplice/internal/update"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// FormatVersion is the version of the index this package writes and reads.
const FormatVersion = 1

// IndexName is the index's name at the root of a repository.
const IndexName = "index.json"

// signContext is prepended to the index before it is signed or verified,
// so that a signature made over an index can never be passed off as one
// over anything else the same key signs (an update's manifest), nor the
// reverse.
const signContext = "ksplice repository index v1\n"

// maxIndex bounds the index a client reads: a repository of ten thousand
// updates is about 4 MB.
const maxIndex = 64 << 20

var (
	// ErrFormat means the index is not one this version reads.
	ErrFormat = errors.New("not a ksplice repository index")
	// ErrUnsigned means the index carries no signature and unsigned
	// indexes were not allowed.
	ErrUnsigned = fmt.Errorf("%w: repository index is not signed", verdict.ErrRefused)
	// ErrSignature means the index's signature did not verify; the error
	// wraps the verifier's own (a bad signature, an untrusted key).
	ErrSignature = fmt.Errorf("%w: repository index signature", verdict.ErrRefused)
	// ErrChecksum means a tarball differs from what the signed index says.
	ErrChecksum = fmt.Errorf("%w: tarball does not match the repository index", verdict.ErrRefused)
	// ErrConflict means an update with the same id and kernel release but
	// other contents is already in the repository.
	ErrConflict = fmt.Errorf("%w: conflicting update in the repository", verdict.ErrRefused)
	// ErrNotFound means the repository has no such file (no index: not a
	// repository).
	ErrNotFound = errors.New("not found in the repository")
)

// Index is the signed contents of a repository: for each kernel release
// (uname -r), its updates in the order they apply.
type Index struct {
	Format    int                `json:"format"`
	Generated time.Time          `json:"generated"`
	Tool      string             `json:"tool"`
	Kernels   map[string][]Entry `json:"kernels"`
}

// Entry is one update of a repository.
type Entry struct {
	ID          string    `json:"id"`
	Description string    `json:"description"`
	Release     string    `json:"release"` // the manifest's kernel.release
	Machine     string    `json:"machine"` // the manifest's kernel.machine
	File        string    `json:"file"`    // relative to the repository root
	SHA256      string    `json:"sha256"`  // of the tarball, hex
	Size        int64     `json:"size"`
	Published   time.Time `json:"published"`
}

// envelope is index.json: the index and a detached signature over it.
// The signature covers the index in compact form (json.Compact), so the
// file may be re-indented without breaking it, and the index stays
// readable with jq (.index). The signature is text (a minisign signature
// file's contents, with internal/sign).
type envelope struct {
	Index     json.RawMessage `json:"index"`
	Signature string          `json:"signature,omitempty"`
}

// Verifier checks sig over msg against the trusted keys and returns the id
// of the key that made it (internal/sign's Verify, with the trusted keys
// bound).
type Verifier func(msg, sig []byte) (keyID string, err error)

// Signer signs msg (internal/sign's Sign, with the private key bound).
type Signer func(msg []byte) ([]byte, error)

var (
	validRelease = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$`)
	validSHA256  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	validFile    = regexp.MustCompile(`^[A-Za-z0-9._+~/-]{1,512}$`)
)

// ValidRelease reports whether s can be a kernel release in an index: it
// names a directory of the repository.
func ValidRelease(s string) bool { return validRelease.MatchString(s) && s != "." && s != ".." }

// check says what is wrong with an index read from a repository, which a
// client must never trust further than the signature that vouched for it:
// every name is one this package could have written.
func (ix *Index) check() error {
	if ix.Format != FormatVersion {
		return fmt.Errorf("%w: format version %d, this ksplice reads %d", ErrFormat, ix.Format, FormatVersion)
	}
	for rel, es := range ix.Kernels {
		if !ValidRelease(rel) {
			return fmt.Errorf("%w: bad kernel release %q", ErrFormat, rel)
		}
		seen := map[string]bool{}
		for i, e := range es {
			switch {
			case !update.ValidID(e.ID):
				return fmt.Errorf("%w: %s: update %d has a bad id %q", ErrFormat, rel, i, e.ID)
			case seen[e.ID]:
				return fmt.Errorf("%w: %s: update %s is listed twice", ErrFormat, rel, e.ID)
			case e.Release != rel:
				return fmt.Errorf("%w: %s: update %s is for kernel %s", ErrFormat, rel, e.ID, e.Release)
			case !validSHA256.MatchString(e.SHA256):
				return fmt.Errorf("%w: %s: update %s has a bad sha256 %q", ErrFormat, rel, e.ID, e.SHA256)
			case !validPath(e.File):
				return fmt.Errorf("%w: %s: update %s has a bad file name %q", ErrFormat, rel, e.ID, e.File)
			case e.Size <= 0:
				return fmt.Errorf("%w: %s: update %s has a bad size %d", ErrFormat, rel, e.ID, e.Size)
			}
			seen[e.ID] = true
		}
	}
	return nil
}

// validPath reports whether p is a clean relative slash path inside the
// repository: a client joins it to a base URL or directory.
func validPath(p string) bool {
	return validFile.MatchString(p) && path.Clean(p) == p && !path.IsAbs(p) &&
		p != ".." && !bytes.HasPrefix([]byte(p), []byte("../")) && p != IndexName
}

// Encode returns index.json for ix, signed with sign when sign is not nil.
func Encode(ix *Index, sign Signer) ([]byte, error) {
	body, err := json.Marshal(ix)
	if err != nil {
		return nil, err
	}
	env := envelope{Index: body}
	if sign != nil {
		sig, err := sign(signedMessage(body))
		if err != nil {
			return nil, fmt.Errorf("sign the index: %w", err)
		}
		env.Signature = string(sig)
	}
	out, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

func signedMessage(compactIndex []byte) []byte {
	return append([]byte(signContext), compactIndex...)
}

// Decoded is an index read from a repository.
type Decoded struct {
	Index *Index
	// KeyID names the key whose signature verified; empty when the index
	// was unsigned and that was allowed.
	KeyID string
	// Signed says whether the index carried a signature at all.
	Signed bool
}

// Decode parses index.json and checks its signature with verify. A nil
// verify skips the check; an index without a signature is refused with
// ErrUnsigned unless allowUnsigned. Errors wrap ErrFormat, ErrUnsigned or
// ErrSignature (and the verifier's own error).
func Decode(b []byte, verify Verifier, allowUnsigned bool) (*Decoded, error) {
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if len(env.Index) == 0 {
		return nil, fmt.Errorf("%w: no index", ErrFormat)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, env.Index); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	d := &Decoded{Signed: len(env.Signature) > 0}
	switch {
	case !d.Signed && !allowUnsigned:
		return nil, fmt.Errorf("%w (publish it with --sign KEY, or pass --allow-unsigned)", ErrUnsigned)
	case d.Signed && verify != nil:
		id, err := verify(signedMessage(compact.Bytes()), []byte(env.Signature))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSignature, err)
		}
		d.KeyID = id
	case d.Signed && !allowUnsigned:
		return nil, fmt.Errorf("%w: no trusted keys to check it with", ErrSignature)
	}
	// Only what the signature covers is parsed; the version first, so
	// that an index of another version is refused by its version rather
	// than by a field this one does not know.
	var v struct {
		Format int `json:"format"`
	}
	if err := json.Unmarshal(compact.Bytes(), &v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if v.Format != FormatVersion {
		return nil, fmt.Errorf("%w: format version %d, this ksplice reads %d", ErrFormat, v.Format, FormatVersion)
	}
	ix := &Index{}
	idec := json.NewDecoder(bytes.NewReader(compact.Bytes()))
	idec.DisallowUnknownFields()
	if err := idec.Decode(ix); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if err := ix.check(); err != nil {
		return nil, err
	}
	if ix.Kernels == nil {
		ix.Kernels = map[string][]Entry{}
	}
	d.Index = ix
	return d, nil
}
