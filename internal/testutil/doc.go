// Package testutil is what the tests of several packages share: building
// the test objects of testdata/ with their Makefiles (Make), and comparing
// output with golden files, refreshed with go test -update (Golden).
//
// It is imported by tests only.
package testutil
