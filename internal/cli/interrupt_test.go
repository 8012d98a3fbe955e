package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer that a command writes while the test
// reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestInterrupt: SIGINT in the middle of create's preparation of a tree
// stops it: make and what it runs are killed, the half-made stage is
// removed, and ksplice exits 130 saying why.
func TestInterrupt(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	cc := "gcc"
	if _, err := exec.LookPath(cc); err != nil {
		t.Skip("no gcc")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "linux")
	marker := "61.25" // the sleep only this test runs
	files := map[string]string{
		"Kbuild": "",
		// Every goal sleeps: the preparation is under way when the
		// signal comes.
		"Makefile":   "%:\n\tsleep " + marker + "\n",
		".config":    "CONFIG_X86_64=y\nCONFIG_CC_VERSION_TEXT=\"gcc (Debian 12.2.0-14+deb12u1) 12.2.0\"\n",
		"kernel/x.c": "int x;\n",
	}
	for name, body := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	headers := filepath.Join(dir, "headers")
	os.MkdirAll(filepath.Join(headers, "include", "generated"), 0o755)
	os.WriteFile(filepath.Join(headers, "include", "generated", "utsrelease.h"), []byte("#define UTS_RELEASE \"6.1.0-test\"\n"), 0o644)
	patch := filepath.Join(dir, "x.diff")
	os.WriteFile(patch, []byte("--- a/kernel/x.c\n+++ b/kernel/x.c\n@@ -1 +1 @@\n-int x;\n+int x = 1;\n"), 0o644)
	cache := filepath.Join(dir, "cache")
	t.Setenv("KSPLICE_CACHE", cache)

	var out, errOut syncBuffer
	done := make(chan int)
	go func() {
		done <- Main([]string{"create", "--src", src, "--headers", headers, "-o", filepath.Join(dir, "u.tar"), patch}, Streams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	}()
	sleeping := func() bool {
		return exec.Command("pgrep", "-f", "sleep "+marker).Run() == nil
	}
	for deadline := time.Now().Add(30 * time.Second); !sleeping(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("make never started; stderr:\n%s", errOut.String())
		}
		select {
		case code := <-done:
			t.Fatalf("create ended (%d) before the signal; stderr:\n%s", code, errOut.String())
		default:
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var code int
	select {
	case code = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("create still running 30 s after SIGINT; stderr:\n%s", errOut.String())
	}
	t.Logf("stderr:\n%s", errOut.String())
	if code != 128+int(syscall.SIGINT) || !strings.Contains(errOut.String(), "ksplice: stopped by interrupt") {
		t.Errorf("exit %d, stderr:\n%s\nwant 130, saying it was stopped", code, errOut.String())
	}
	if sleeping() {
		ps, _ := exec.Command("ps", "-eo", "pid,pgid,stat,args").Output()
		t.Errorf("make's sleep %s still runs after create returned:\n%s", marker, ps)
	}
	// Stage removes what it made: no build tree is left to be taken
	// for a prepared one.
	builds, _ := filepath.Glob(filepath.Join(cache, "kernels", "src", "*", "build"))
	if len(builds) > 0 {
		t.Errorf("half-prepared build tree left: %v", builds)
	}
	if _, err := os.Stat(filepath.Join(dir, "u.tar")); err == nil {
		t.Error("an update was written")
	}
}
