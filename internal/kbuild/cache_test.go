package kbuild

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestStage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	calls := 0
	fail := errors.New("boom")
	// A failing stage leaves nothing behind.
	err := Stage(dir, func(d string) error {
		calls++
		os.WriteFile(filepath.Join(d, "half"), nil, 0o644)
		return fail
	})
	if !errors.Is(err, fail) {
		t.Fatalf("stage error = %v, want %v", err, fail)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("failed stage left %s behind", dir)
	}
	// A directory without the completion mark is redone.
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "stale"), nil, 0o644)
	build := func(d string) error {
		calls++
		return os.WriteFile(filepath.Join(d, "good"), nil, 0o644)
	}
	if err := Stage(dir, build); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stale")); !os.IsNotExist(err) {
		t.Error("incomplete stage was reused instead of redone")
	}
	// A complete stage is kept.
	if err := Stage(dir, build); err != nil {
		t.Fatal(err)
	}
	if calls != 2 {
		t.Errorf("build ran %d times, want 2", calls)
	}
	if !Complete(dir) {
		t.Error("stage not marked complete")
	}
}

func TestLockSerialises(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kernels", "k")
	unlock, err := Lock(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var order []string
	waited := make(chan struct{})
	done := make(chan struct{})
	go func() {
		u, err := Lock(dir, func() { close(waited) })
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		mu.Lock()
		order = append(order, "second")
		mu.Unlock()
		u()
		close(done)
	}()
	<-waited
	mu.Lock()
	order = append(order, "first")
	mu.Unlock()
	unlock()
	<-done
	if strings.Join(order, ",") != "first,second" {
		t.Errorf("lock order = %v", order)
	}
}
