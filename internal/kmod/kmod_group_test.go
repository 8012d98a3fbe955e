package kmod

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestSetStageGroup: the request goes to the group file as one line; an
// engine without the file is ErrNoGroup.
func TestSetStageGroup(t *testing.T) {
	root := t.TempDir()
	if err := SetStageGroup(root, "apply", []string{"a.vmlinux", "a.ext4"}); !errors.Is(err, ErrNoGroup) {
		t.Fatalf("without a group file: %v, want ErrNoGroup", err)
	}
	p := filepath.Join(root, "group")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SetStageGroup(root, "apply", []string{"a.vmlinux", "a.ext4"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "apply a.vmlinux a.ext4\n" {
		t.Errorf("group file got %q", b)
	}
}
