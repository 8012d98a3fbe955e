package apply

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ksplice-go/ksplice/internal/kmod"
	"github.com/ksplice-go/ksplice/internal/update"
)

// Results of re-applying one recorded update at boot (BootResult.Result).
const (
	BootApplied        = "applied"
	BootAlreadyApplied = "already-applied"
	BootSkipped        = "skipped" // recorded for another kernel
	BootFailed         = "failed"
)

// BootResult is what Boot did with one recorded update.
type BootResult struct {
	ID       string `json:"id"`
	Seq      int    `json:"seq"`
	Kernel   string `json:"kernel"` // the release it was recorded for
	Result   string `json:"result"` // BootApplied, BootAlreadyApplied, BootSkipped, BootFailed
	Reason   string `json:"reason,omitempty"`
	SignedBy string `json:"signed_by,omitempty"`
	// StopMachineNs is how long each target's apply held the CPUs.
	StopMachineNs map[string]int64 `json:"stop_machine_ns,omitempty"`
}

// Boot re-applies, in the order they were first applied, the recorded
// updates whose kernel is the running one, from the copies Apply kept,
// verifying each again as Apply does (o.Trusted, o.AllowUnsigned). Updates
// recorded for another kernel are skipped, and keep their records for
// when that kernel runs again. One that fails keeps its record too, for
// the next boot; the others are still tried (each is matched against the
// running code on its own, so a later one never applies over code it does
// not expect). Every recorded update has a result; the error joins the
// failures.
func Boot(o Options) ([]BootResult, error) {
	o.defaults()
	release, _, err := kmod.Uname()
	if err != nil {
		return nil, err
	}
	recs, err := readRecords(o.StateDir)
	if err != nil {
		return nil, err
	}
	var results []BootResult
	var errs []error
	for _, rec := range recs {
		r := BootResult{ID: rec.ID, Seq: rec.Seq, Kernel: rec.Kernel, SignedBy: rec.SignedBy}
		err := bootOne(rec, release, o, &r)
		if err != nil {
			r.Result, r.Reason = BootFailed, err.Error()
			errs = append(errs, fmt.Errorf("re-apply %s: %w", rec.ID, err))
		}
		fmt.Fprintf(o.Log, "apply --boot: %s: %s%s\n", rec.ID, r.Result, reasonSuffix(r.Reason))
		results = append(results, r)
	}
	return results, errors.Join(errs...)
}

func reasonSuffix(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func bootOne(rec *Record, release string, o Options, r *BootResult) error {
	if rec.Kernel != release {
		r.Result = BootSkipped
		r.Reason = fmt.Sprintf("recorded for kernel %s; this kernel is %s", rec.Kernel, release)
		return nil
	}
	m := update.Manifest{ID: rec.ID, Targets: rec.Targets}
	if len(rec.Kept) > 0 {
		// Undone, with its module kept loaded: never re-applied. After a
		// reboot nothing of it is left, and neither is its record.
		r.Result = BootSkipped
		r.Reason = "undone (its module was kept loaded)"
		for _, t := range rec.Targets {
			if kept, _ := (kmod.Update{ID: m.EngineID(t), Root: o.SysfsRoot}).Attr("kept"); kept == "1" {
				return nil
			}
		}
		if err := os.Remove(recordPath(o.StateDir, rec.ID)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if rec.Tarball != "" {
			os.Remove(filepath.Join(o.StateDir, rec.Tarball))
		}
		return nil
	}
	if len(rec.Targets) > 0 {
		if st, _ := (kmod.Update{ID: m.EngineID(rec.Targets[0]), Root: o.SysfsRoot}).Stage(); st == "applied" {
			r.Result = BootAlreadyApplied
			return nil
		}
	}
	if rec.Tarball == "" {
		return fmt.Errorf("no copy of the update was kept (applied by an older ksplice): apply it again by hand")
	}
	u, err := update.ReadFile(filepath.Join(o.StateDir, rec.Tarball))
	if err != nil {
		return err
	}
	if u.Manifest.ID != rec.ID {
		return fmt.Errorf("%s holds update %s, not %s", rec.Tarball, u.Manifest.ID, rec.ID)
	}
	ro := o
	ro.seq = rec.Seq
	got, err := Apply(u, ro)
	if errors.Is(err, ErrAlreadyApplied) {
		r.Result = BootAlreadyApplied
		return nil
	}
	if err != nil {
		return err
	}
	r.Result, r.SignedBy, r.StopMachineNs = BootApplied, got.SignedBy, got.StopMachineNs
	return nil
}

// readRecords returns every record in dir, oldest first (by Seq).
func readRecords(dir string) ([]*Record, error) {
	ents, err := os.ReadDir(filepath.Join(dir, "updates"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var recs []*Record
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		rec, err := readRecord(dir, id)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
	}
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Seq < recs[j].Seq })
	return recs, nil
}
