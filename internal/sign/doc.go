// Package sign signs and verifies ksplice's signed artefacts (an update's
// manifest, a repository's index) with minisign keys and signatures:
// Ed25519, in the file formats of the minisign tool, so that a key made by
// `ksplice keygen` works with `minisign -V` and a key made by `minisign -G`
// works with ksplice. It knows nothing of updates: it signs and verifies
// bytes, and loads the keys an administrator trusts (DefaultTrustedDir).
//
// The refusals wrap verdict.ErrRefused, so that every command reports them
// with exit code 3: ErrUnsigned, ErrBadSignature and ErrUntrustedKey, the
// last two as a *KeyError naming the signature's key id.
package sign
