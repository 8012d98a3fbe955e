package apply

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ksplice-go/ksplice/internal/kmod"
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
	recs, err := List(Options{StateDir: dir, SysfsRoot: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
		// The kernel has no such update: the record says so.
		if r.Stage != "missing" || !strings.Contains(r.Disagreement, "does not have "+r.ID) {
			t.Errorf("%s: stage %q, disagreement %q; want missing, and said", r.ID, r.Stage, r.Disagreement)
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

// TestListReconciles: list holds the records against what the engine's
// sysfs says, and reports each way they disagree.
func TestListReconciles(t *testing.T) {
	dir, sys := t.TempDir(), t.TempDir()
	engine := func(id, stage string) {
		if err := os.MkdirAll(filepath.Join(sys, id), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sys, id, "stage"), []byte(stage+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	record := func(id string, seq int, targets ...string) {
		r := &Record{ID: id, Seq: seq, Applied: time.Now()}
		for _, tg := range targets {
			r.Targets = append(r.Targets, update.Target{Name: tg, Module: "ksplice_" + id + "_" + tg + ".ko"})
		}
		if err := writeRecord(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	record("good", 1, "vmlinux")
	engine("good", "applied")
	// Undone with its module kept: reversed in the kernel, kept 1.
	record("kept", 3, "vmlinux")
	if r, err := readRecord(dir, "kept"); err == nil {
		r.Kept = []string{"vmlinux"}
		err = writeRecord(dir, r)
	}
	engine("kept", "reversed")
	if err := os.WriteFile(filepath.Join(sys, "kept", "kept"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	record("multi", 2, "vmlinux", "ext4")
	engine("multi.vmlinux", "applied")
	engine("multi.ext4", "reversed") // half undone
	engine("stray", "applied")       // no record
	engine("idle", "loaded")         // registered, not applied: nothing to say

	recs, err := List(Options{StateDir: dir, SysfsRoot: sys})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*Record{}
	for _, r := range recs {
		got[r.ID] = r
	}
	if r := got["good"]; r == nil || r.Stage != "applied" || r.Disagreement != "" {
		t.Errorf("good: %+v, want applied and no disagreement", r)
	}
	if r := got["multi"]; r == nil || r.Stage != "reversed" || !strings.Contains(r.Disagreement, "multi.ext4 reversed") {
		t.Errorf("multi: %+v, want its reversed target named", r)
	}
	if r := got["stray"]; r == nil || r.Stage != "applied" || !strings.Contains(r.Disagreement, "not recorded") {
		t.Errorf("stray: %+v, want an applied update without a record", r)
	}
	if r := got["kept"]; r == nil || r.Stage != StageKept || r.Disagreement != "" {
		t.Errorf("kept: %+v, want stage %s and no disagreement", r, StageKept)
	}
	if _, ok := got["idle"]; ok || len(recs) != 4 {
		t.Errorf("List = %d records (%v), want good, multi, kept, stray", len(recs), got)
	}
}

// TestBootWithoutTheKernel: apply --boot's decisions that come before any
// module is loaded: records of another kernel are skipped and kept, in
// their order; a record of this kernel without the update's copy, or
// whose copy is another update, fails and is kept for the next boot.
func TestBootWithoutTheKernel(t *testing.T) {
	release, _, err := kmod.Uname()
	if err != nil {
		t.Fatal(err)
	}
	dir, sys := t.TempDir(), t.TempDir()
	rec := func(id string, seq int, kernel, tarball string) {
		r := &Record{ID: id, Seq: seq, Kernel: kernel, Tarball: tarball,
			Targets: []update.Target{{Name: "vmlinux", Module: "ksplice_" + id + "_vmlinux.ko"}}}
		if err := writeRecord(dir, r); err != nil {
			t.Fatal(err)
		}
	}
	rec("later", 7, "0.0.0-other", "updates/later.tar")
	rec("first", 2, "0.0.0-other", "updates/first.tar")
	rec("nocopy", 3, release, "")
	rec("wrongcopy", 4, release, "updates/wrongcopy.tar")
	m := &update.Manifest{ID: "someone_else", Core: "ksplice.ko", Kernel: update.Kernel{Release: release},
		Targets: []update.Target{{Name: "vmlinux", Module: "m.ko"}}}
	f, err := os.Create(filepath.Join(dir, "updates", "wrongcopy.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if err := update.Write(f, m, map[string][]byte{"ksplice.ko": {1}, "m.ko": {2}}); err != nil {
		t.Fatal(err)
	}
	f.Close()

	res, err := Boot(Options{StateDir: dir, SysfsRoot: sys})
	if err == nil || !strings.Contains(err.Error(), "nocopy") || !strings.Contains(err.Error(), "wrongcopy") {
		t.Errorf("Boot error = %v; want the two failures named", err)
	}
	var got []string
	for _, r := range res {
		got = append(got, r.ID+":"+r.Result)
	}
	want := "first:skipped nocopy:failed wrongcopy:failed later:skipped"
	if strings.Join(got, " ") != want {
		t.Errorf("Boot = %v, want %s", got, want)
	}
	if !strings.Contains(res[0].Reason, "recorded for kernel 0.0.0-other; this kernel is "+release) ||
		!strings.Contains(res[1].Reason, "no copy") || !strings.Contains(res[2].Reason, "holds update someone_else") {
		t.Errorf("reasons: %q, %q, %q", res[0].Reason, res[1].Reason, res[2].Reason)
	}
	recs, _ := readRecords(dir)
	if len(recs) != 4 {
		t.Errorf("%d records left, want all 4 kept", len(recs))
	}
}
