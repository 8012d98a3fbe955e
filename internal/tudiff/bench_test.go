package tudiff

import (
	"os"
	"testing"
)

// BenchmarkParse parses the preprocessed unit KSPLICE_TUDIFF_BENCH_I
// names (a kernel .i: make net/ipv4/route.i with the scan's CPP), the
// scan's cost per object and side besides the preprocessor's.
func BenchmarkParse(b *testing.B) {
	path := os.Getenv("KSPLICE_TUDIFF_BENCH_I")
	if path == "" {
		b.Skip("KSPLICE_TUDIFF_BENCH_I names no preprocessed unit")
	}
	src, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(src); err != nil {
			b.Fatal(err)
		}
	}
}
