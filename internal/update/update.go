// Package update reads and writes ksplice update tarballs: a manifest, the
// patch the update was made from, the kernel modules that carry it, and the
// pre- and post-patch objects it was computed from, each file checksummed
// in the manifest. The format is specified in docs/update-format.md.
package update

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"sort"
	"time"

	"github.com/ksplice-go/ksplice/internal/sign"
)

// FormatVersion is the version of the tarball layout and manifest this
// package writes. Version 2 added the manifest's signature
// (SignatureName); Read also reads version 1, which has none, and refuses
// every other version.
const FormatVersion = 2

// ManifestName is the manifest's name in the tarball; it comes first.
const ManifestName = "manifest.json"

// SignatureName is the minisign signature of the manifest's bytes, right
// after the manifest when the update is signed. The manifest carries the
// sha256 of every other file, so it signs the whole update.
const SignatureName = ManifestName + ".minisig"

var (
	// ErrFormat means the file is not a ksplice update this version reads.
	ErrFormat = errors.New("not a ksplice update")
	// ErrChecksum means a file in the update does not match its checksum.
	ErrChecksum = errors.New("checksum mismatch")
)

// Manifest describes an update. Its JSON form is stable within a
// FormatVersion.
type Manifest struct {
	Format      int       `json:"format"`
	ID          string    `json:"id"`
	Description string    `json:"description"`
	Created     time.Time `json:"created"`
	Tool        string    `json:"tool"` // "ksplice VERSION"
	Kernel      Kernel    `json:"kernel"`
	Patch       string    `json:"patch"` // name of the patch file in the tarball
	// Hooks names the author's hook source in the tarball, if any.
	Hooks string `json:"hooks,omitempty"`
	// Core is the engine module every update module depends on.
	Core    string   `json:"core"`
	Targets []Target `json:"targets"`
	// Upgrade, for an update made by create --upgrade-to, says which
	// release of the kernel's source package it brings the running kernel
	// to, and how much of it.
	Upgrade *Upgrade `json:"upgrade,omitempty"`
	// Files maps every other file of the tarball to its sha256, in hex.
	Files map[string]string `json:"files"`
}

// Kernel is the kernel an update is for.
type Kernel struct {
	Release  string `json:"release"`  // uname -r
	Machine  string `json:"machine"`  // uname -m: "x86_64", "aarch64"
	Vermagic string `json:"vermagic"` // of the update's modules
	Spec     string `json:"spec,omitempty"`
	Compiler string `json:"compiler"`
}

// Upgrade is the part of a distribution release an update carries.
type Upgrade struct {
	Package string `json:"package"` // the source package: "linux-source-6.1"
	From    string `json:"from"`    // its version the kernel was built from: "6.1.187-1"
	To      string `json:"to"`      // the version the update brings: "6.1.190-1"
	// Release is the uname -r of the distribution's kernel of that
	// version and the running kernel's flavour ("6.1.0-54-amd64"), when
	// the mirror said; what ksplice uname -r prints once the cumulative
	// update is applied.
	Release string `json:"release,omitempty"`
	// Cumulative marks the update that carries every update of the
	// release at once.
	Cumulative bool `json:"cumulative,omitempty"`
	// Files are the changed files of the release this update carries.
	Files []string `json:"files"`
	// Carried is how many of the release's changed files that this
	// kernel's configuration builds (Needed) the release's updates
	// carry, all of them together.
	Carried int `json:"carried,omitempty"`
	Needed  int `json:"needed,omitempty"`
}

// Target is the code in one place of the running kernel that an update
// changes: vmlinux or one module.
type Target struct {
	Name      string     `json:"name"`   // "vmlinux" or the module's name
	Module    string     `json:"module"` // the update module for it, in the tarball
	Objects   []string   `json:"objects"`
	Functions []Function `json:"functions"`
	// Keep says why the update module must stay loaded once the update
	// is undone: its new code takes the address of code or data that
	// only the module has, which may still be reachable (a work item, a
	// timer). Empty when it may be unloaded. See docs/kernel-interface.md,
	// "Safety rules".
	Keep []string `json:"keep,omitempty"`
}

// Function is a function an update replaces or adds.
type Function struct {
	Name   string `json:"name"`
	Object string `json:"object"` // "fs/proc/cmdline.o"
	Status string `json:"status"` // "changed" (replaced) or "new"
	// Method is how the engine sends the calls of a replaced function
	// to its replacement: "ftrace" (its ftrace site) or "jump" (a direct
	// jump over its entry, for a function without an ftrace site). Empty
	// for a new function, and in updates made before it was recorded
	// (all of which used ftrace).
	Method  string `json:"method,omitempty"`
	OldSize uint64 `json:"old_size,omitempty"`
	NewSize uint64 `json:"new_size"`
}

// Replaced returns the functions of t that replace running code.
func (t Target) Replaced() []Function {
	var out []Function
	for _, f := range t.Functions {
		if f.Status == "changed" {
			out = append(out, f)
		}
	}
	return out
}

var validID = regexp.MustCompile(`^[a-z0-9][a-z0-9_]{0,31}$`)

// ValidID reports whether id can name an update: it becomes part of module
// and sysfs names, so lower-case letters, digits and '_' only, at most 32.
func ValidID(id string) bool { return validID.MatchString(id) }

// Update is a read update tarball.
type Update struct {
	Manifest Manifest
	Files    map[string][]byte
	// RawManifest is the manifest's bytes as read: what the signature
	// signs.
	RawManifest []byte
	// Signature is the content of SignatureName, nil if unsigned.
	Signature []byte
	// Raw is the whole tarball as read, so that apply can keep a copy
	// that still verifies.
	Raw []byte
}

// Verify checks the update's signature against the trusted keys (see
// sign.Verify) and returns the signing key's id. Errors wrap
// sign.ErrUnsigned, sign.ErrBadSignature or sign.ErrUntrustedKey.
func (u *Update) Verify(trusted []sign.PublicKey) (string, error) {
	id, err := sign.Verify(trusted, u.RawManifest, u.Signature)
	if err != nil {
		return id, fmt.Errorf("update %s: %w", u.Manifest.ID, err)
	}
	return id, nil
}

// Write writes an unsigned tarball holding m and files. It fills in
// m.Files with the checksums and m.Format.
func Write(w io.Writer, m *Manifest, files map[string][]byte) error {
	return writeManifest(w, m, files, nil)
}

// WriteSigned is Write with the manifest signed by key.
func WriteSigned(w io.Writer, m *Manifest, files map[string][]byte, key sign.PrivateKey) error {
	return writeManifest(w, m, files, &key)
}

func writeManifest(w io.Writer, m *Manifest, files map[string][]byte, key *sign.PrivateKey) error {
	m.Format = FormatVersion
	m.Files = map[string]string{}
	names := make([]string, 0, len(files))
	for name, b := range files {
		if name == ManifestName || name == SignatureName || !validName(name) {
			return fmt.Errorf("write update: bad file name %q", name)
		}
		sum := sha256.Sum256(b)
		m.Files[name] = hex.EncodeToString(sum[:])
		names = append(names, name)
	}
	sort.Strings(names)
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	mj = append(mj, '\n')
	var sig []byte
	if key != nil {
		if sig, err = sign.Sign(*key, mj); err != nil {
			return fmt.Errorf("write update: %w", err)
		}
	}
	return writeRaw(w, mj, sig, files, names, m.Created)
}

// Resign returns u's tarball with its manifest, unchanged, signed by key
// (replacing any signature it had).
func Resign(u *Update, key sign.PrivateKey) ([]byte, error) {
	if u.Manifest.Format < 2 {
		return nil, fmt.Errorf("sign %s: %w: format version %d has no signature (create it again with this ksplice)", u.Manifest.ID, ErrFormat, u.Manifest.Format)
	}
	sig, err := sign.Sign(key, u.RawManifest)
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", u.Manifest.ID, err)
	}
	names := make([]string, 0, len(u.Files))
	for n := range u.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	if err := writeRaw(&b, u.RawManifest, sig, u.Files, names, u.Manifest.Created); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeRaw writes the tarball: the manifest's bytes, the signature if
// any, then the files in the order of names.
func writeRaw(w io.Writer, mj, sig []byte, files map[string][]byte, names []string, mtime time.Time) error {
	tw := tar.NewWriter(w)
	put := func(name string, b []byte) error {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := put(ManifestName, mj); err != nil {
		return fmt.Errorf("write update: %w", err)
	}
	if sig != nil {
		if err := put(SignatureName, sig); err != nil {
			return fmt.Errorf("write update: %w", err)
		}
	}
	for _, n := range names {
		if err := put(n, files[n]); err != nil {
			return fmt.Errorf("write update: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write update: %w", err)
	}
	return nil
}

func validName(name string) bool {
	return name != "" && !path.IsAbs(name) && path.Clean(name) == name && name != ".." &&
		!bytes.HasPrefix([]byte(name), []byte("../"))
}

// maxFile bounds one file of an update; real ones are well under a few MB.
const maxFile = 256 << 20

// maxSignature bounds the signature file (a minisig is about 300 bytes).
const maxSignature = 4096

// Read reads and verifies an update tarball: the manifest's format, and
// every file against its checksum, with no file missing or extra. It does
// not check the signature (Verify does). Errors wrap ErrFormat or
// ErrChecksum.
func Read(r io.Reader) (*Update, error) {
	var raw bytes.Buffer
	tee := io.TeeReader(r, &raw)
	tr := tar.NewReader(tee)
	u := &Update{Files: map[string][]byte{}}
	var sawManifest bool
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%w: %s is not a regular file", ErrFormat, hdr.Name)
		}
		if hdr.Size > maxFile {
			return nil, fmt.Errorf("%w: %s is %d bytes", ErrFormat, hdr.Name, hdr.Size)
		}
		b, err := io.ReadAll(io.LimitReader(tr, hdr.Size))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFormat, hdr.Name, err)
		}
		if int64(len(b)) != hdr.Size {
			return nil, fmt.Errorf("%w: %s is truncated", ErrFormat, hdr.Name)
		}
		if i == 0 {
			if hdr.Name != ManifestName {
				return nil, fmt.Errorf("%w: first file is %s, not %s", ErrFormat, hdr.Name, ManifestName)
			}
			if err := json.Unmarshal(b, &u.Manifest); err != nil {
				return nil, fmt.Errorf("%w: manifest: %v", ErrFormat, err)
			}
			if u.Manifest.Format != FormatVersion && u.Manifest.Format != 1 {
				return nil, fmt.Errorf("%w: format version %d, this ksplice reads 1 to %d", ErrFormat, u.Manifest.Format, FormatVersion)
			}
			u.RawManifest = b
			sawManifest = true
			continue
		}
		if i == 1 && hdr.Name == SignatureName && u.Manifest.Format >= 2 {
			if len(b) > maxSignature {
				return nil, fmt.Errorf("%w: %s is %d bytes", ErrFormat, hdr.Name, len(b))
			}
			u.Signature = b
			continue
		}
		if _, dup := u.Files[hdr.Name]; dup || !validName(hdr.Name) {
			return nil, fmt.Errorf("%w: bad or repeated file %q", ErrFormat, hdr.Name)
		}
		u.Files[hdr.Name] = b
	}
	if !sawManifest {
		return nil, fmt.Errorf("%w: empty archive", ErrFormat)
	}
	// The rest of the stream (the end of tar's last record) belongs to
	// the copy too.
	if _, err := io.Copy(io.Discard, io.LimitReader(tee, 1<<20)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	u.Raw = raw.Bytes()
	for name, want := range u.Manifest.Files {
		b, ok := u.Files[name]
		if !ok {
			return nil, fmt.Errorf("%w: %s is missing", ErrChecksum, name)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want {
			return nil, fmt.Errorf("%w: %s has sha256 %s, the manifest says %s", ErrChecksum, name, got, want)
		}
	}
	for name := range u.Files {
		if _, ok := u.Manifest.Files[name]; !ok {
			return nil, fmt.Errorf("%w: %s is not in the manifest", ErrChecksum, name)
		}
	}
	if !ValidID(u.Manifest.ID) {
		return nil, fmt.Errorf("%w: bad update id %q", ErrFormat, u.Manifest.ID)
	}
	if len(u.Manifest.Targets) == 0 {
		return nil, fmt.Errorf("%w: the manifest names no target", ErrFormat)
	}
	for _, name := range append([]string{u.Manifest.Core}, targetModules(u.Manifest.Targets)...) {
		if _, ok := u.Files[name]; !ok {
			return nil, fmt.Errorf("%w: module %q of the manifest is not in the update", ErrFormat, name)
		}
	}
	return u, nil
}

func targetModules(ts []Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Module)
	}
	return out
}

// ReadFile reads and verifies the update tarball at name.
func ReadFile(name string) (*Update, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	u, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return u, nil
}

// EngineID is the id under which target t's module registers with the
// engine (/sys/kernel/ksplice/ID): the update's id when it has one target,
// else ID.TARGET, since each target's module registers on its own.
func (m *Manifest) EngineID(t Target) string {
	return EngineID(m.ID, len(m.Targets), t.Name)
}

// EngineID is Manifest.EngineID for an update id with targets targets, for
// use before the manifest is complete.
func EngineID(id string, targets int, target string) string {
	if targets <= 1 {
		return id
	}
	return id + "." + target
}
