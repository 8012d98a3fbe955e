package apply

import (
	"errors"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/update"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// These tests never reach the kernel: each case is refused, or only reads
// the records, before anything would be loaded.

func TestRecordsNewestFirst(t *testing.T) {
	dir := t.TempDir()
	for i, id := range []string{"first", "second", "third"} {
		seq, err := nextSeq(dir)
		if err != nil {
			t.Fatal(err)
		}
		if seq != i+1 {
			t.Errorf("nextSeq = %d, want %d", seq, i+1)
		}
		r := &Record{ID: id, Seq: seq, Applied: time.Now(), Targets: []update.Target{{Name: "vmlinux", Module: "ksplice_" + id + "_vmlinux.ko"}}}
		if err := writeRecord(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := List(Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
		// This machine's kernel has no such update: the record says so.
		if r.Stage != "missing" {
			t.Errorf("%s: stage %q, want missing", r.ID, r.Stage)
		}
	}
	if len(ids) != 3 || ids[0] != "third" || ids[2] != "first" {
		t.Errorf("List = %v, want newest first", ids)
	}
}

func TestRefusedBeforeTheKernel(t *testing.T) {
	dir := t.TempDir()
	if _, err := Undo("nothing_here", Options{StateDir: dir}); !errors.Is(err, ErrUnknown) {
		t.Errorf("undo of an unknown id: %v, want ErrUnknown", err)
	}
	u := &update.Update{Manifest: update.Manifest{ID: "x", Kernel: update.Kernel{Release: "0.0.0-not-this-one", Machine: "x86_64"},
		Targets: []update.Target{{Name: "vmlinux", Module: "m.ko"}}}}
	_, err := Apply(u, Options{StateDir: dir})
	if !errors.Is(err, ErrWrongKernel) || !errors.Is(err, verdict.ErrRefused) {
		t.Errorf("apply for another kernel: %v, want ErrWrongKernel", err)
	}
}
