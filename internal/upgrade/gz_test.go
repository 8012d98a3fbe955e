package upgrade

import (
	"compress/gzip"
	"os"
	"testing"
)

func writeGz(t *testing.T, name, body string) {
	t.Helper()
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	zw.Write([]byte(body))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}
