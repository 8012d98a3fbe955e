package repo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/renameio/v2"
)

// Source is where a repository's files come from.
type Source interface {
	// Open returns the file at name, a clean slash path relative to the
	// repository root. A missing file is an error wrapping ErrNotFound.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// String is the repository's location, for messages.
	String() string
}

// OpenSource returns the source for loc: an http:// or https:// URL, or a
// directory (a path, or a file:// URL). client may be nil
// (http.DefaultClient).
func OpenSource(loc string, client *http.Client) (Source, error) {
	if loc == "" {
		return nil, errors.New("no repository given")
	}
	u, err := url.Parse(loc)
	if err == nil {
		switch u.Scheme {
		case "http", "https":
			if client == nil {
				client = http.DefaultClient
			}
			if !strings.HasSuffix(u.Path, "/") {
				u.Path += "/"
				u.RawPath = ""
			}
			return &httpSource{base: u, client: client}, nil
		case "file":
			return dirSource(u.Path), nil
		case "":
		default:
			return nil, fmt.Errorf("repository %s: scheme %q is not http, https or file", loc, u.Scheme)
		}
	}
	return dirSource(loc), nil
}

type dirSource string

func (d dirSource) String() string { return string(d) }

func (d dirSource) Open(_ context.Context, name string) (io.ReadCloser, error) {
	if !validPath(name) && name != IndexName {
		return nil, fmt.Errorf("%w: bad file name %q", ErrFormat, name)
	}
	f, err := os.Open(filepath.Join(string(d), filepath.FromSlash(name)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", filepath.Join(string(d), name), ErrNotFound)
	}
	return f, err
}

type httpSource struct {
	base   *url.URL
	client *http.Client
}

func (h *httpSource) String() string { return h.base.String() }

func (h *httpSource) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if !validPath(name) && name != IndexName {
		return nil, fmt.Errorf("%w: bad file name %q", ErrFormat, name)
	}
	// Each segment escaped: a 6.12 release has a '+', which some object
	// stores read as a space when it is left bare.
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(url.PathEscape(s), "+", "%2B")
	}
	ref, err := url.Parse(strings.Join(segs, "/"))
	if err != nil {
		return nil, err
	}
	u := h.base.ResolveReference(ref)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return resp.Body, nil
	case resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %w (HTTP 404)", u, ErrNotFound)
	default:
		resp.Body.Close()
		return nil, fmt.Errorf("fetch %s: HTTP %s", u, resp.Status)
	}
}

// FetchIndex reads the repository's index and checks its signature (see
// Decode). A repository without an index is an error wrapping ErrNotFound.
func FetchIndex(ctx context.Context, src Source, verify Verifier, allowUnsigned bool) (*Decoded, error) {
	r, err := src.Open(ctx, IndexName)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%s is not a ksplice repository: %w", src, err)
		}
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxIndex+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s from %s: %w", IndexName, src, err)
	}
	if len(b) > maxIndex {
		return nil, fmt.Errorf("%w: %s of %s is over %d bytes", ErrFormat, IndexName, src, maxIndex)
	}
	d, err := Decode(b, verify, allowUnsigned)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return d, nil
}

// Download fetches e's tarball into cacheDir, named by its sha256, and
// returns its path. A cached copy is used when its sha256 is still e's. The
// download is checked against e's size and sha256 before it is renamed
// into place, so the cache never holds a file that does not match the
// index. Errors wrap ErrChecksum or ErrNotFound.
func Download(ctx context.Context, src Source, e Entry, cacheDir string) (string, error) {
	if !validSHA256.MatchString(e.SHA256) {
		return "", fmt.Errorf("%w: %s has a bad sha256 %q", ErrFormat, e.ID, e.SHA256)
	}
	dst := filepath.Join(cacheDir, e.SHA256+".tar")
	if sum, err := fileSHA256(dst); err == nil && sum == e.SHA256 {
		return dst, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("download %s: %w", e.ID, err)
	}
	r, err := src.Open(ctx, e.File)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", e.ID, err)
	}
	defer r.Close()
	t, err := renameio.TempFile(cacheDir, dst)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", e.ID, err)
	}
	defer t.Cleanup()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(t, h), io.LimitReader(r, e.Size+1))
	if err != nil {
		return "", fmt.Errorf("download %s from %s: %w", e.File, src, err)
	}
	if n != e.Size {
		return "", fmt.Errorf("%w: %s (%s): %d bytes, the index says %d", ErrChecksum, e.ID, path.Base(e.File), n, e.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != e.SHA256 {
		return "", fmt.Errorf("%w: %s (%s): sha256 %s, the index says %s", ErrChecksum, e.ID, path.Base(e.File), got, e.SHA256)
	}
	if err := t.CloseAtomicallyReplace(); err != nil {
		return "", fmt.Errorf("download %s: %w", e.ID, err)
	}
	return dst, nil
}

func fileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
