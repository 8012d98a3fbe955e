// Package apply applies updates to the running kernel, undoes them, and
// keeps the record of what is applied (under /var/lib/ksplice), so that an
// update is applied completely or not at all and list and undo know what
// is there.
package apply

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/renameio/v2"
	"github.com/ksplice-go/ksplice/internal/kmod"
	"github.com/ksplice-go/ksplice/internal/modsig"
	"github.com/ksplice-go/ksplice/internal/sign"
	"github.com/ksplice-go/ksplice/internal/update"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

// DefaultStateDir is where applied updates are recorded.
const DefaultStateDir = "/var/lib/ksplice"

// CoreModule is the engine's module name.
const CoreModule = "ksplice"

var (
	// ErrAlreadyApplied means the update is applied already; not a failure.
	ErrAlreadyApplied = errors.New("already applied")
	// ErrUnknown means no applied update has the id.
	ErrUnknown = errors.New("no applied update with that id")
	// ErrWrongKernel means the update was built for another kernel.
	ErrWrongKernel = fmt.Errorf("%w: update built for another kernel", verdict.ErrRefused)
	// ErrTargetNotLoaded means a module the update patches is not loaded.
	ErrTargetNotLoaded = fmt.Errorf("%w: target module not loaded", verdict.ErrRefused)
	// ErrModulesUnsigned means the kernel loads only signed modules and
	// the update's are not.
	ErrModulesUnsigned = fmt.Errorf("%w: the update's modules are not signed", verdict.ErrRefused)
)

// Record is what is kept about an applied update.
type Record struct {
	ID          string          `json:"id"`
	Description string          `json:"description"`
	Applied     time.Time       `json:"applied"`
	Seq         int             `json:"seq"` // order of application
	Kernel      string          `json:"kernel"`
	Targets     []update.Target `json:"targets"`
	// StopMachineNs is how long each target's apply held the CPUs.
	StopMachineNs map[string]int64 `json:"stop_machine_ns"`
	// Stage is the engine's stage of the update now (list fills it in).
	Stage string `json:"stage,omitempty"`
	// Disagreement, when set, says how the record and the kernel differ
	// (list fills it in): recorded but not applied in the kernel, or
	// applied in the kernel with no record.
	Disagreement string `json:"disagreement,omitempty"`
	// Kept are the targets whose update module stayed loaded when the
	// update was undone (the engine keeps modules whose new code may
	// have published addresses into them; Targets[].Keep says why). An
	// update with kept targets keeps its record, at stage StageKept.
	Kept []string `json:"kept,omitempty"`
	// SignedBy is the id of the trusted key that signed the update; ""
	// when it was applied unsigned (--allow-unsigned).
	SignedBy string `json:"signed_by,omitempty"`
	// Tarball is the copy of the update kept for re-applying it at boot,
	// relative to the state directory ("updates/ID.tar").
	Tarball string `json:"tarball,omitempty"`
}

// StageKept is the stage List gives an update that was undone while the
// engine kept (some of) its modules loaded.
const StageKept = "reversed-kept"

// Options control Apply and Undo.
type Options struct {
	StateDir string    // default DefaultStateDir
	Log      io.Writer // progress lines
	// SysfsRoot is the engine's sysfs directory, read by List; default
	// kmod.SysfsRoot.
	SysfsRoot string
	// Trusted are the keys an update must be signed by (see
	// sign.LoadTrusted), read from KeysDir, which messages name.
	Trusted []sign.PublicKey
	KeysDir string
	// AllowUnsigned applies an update that is unsigned, or signed by a
	// key that is not trusted, with a warning. A signature that does not
	// verify with the trusted key it names is refused all the same.
	AllowUnsigned bool

	// seq, when set, is the order the update keeps: Boot re-applies
	// each update in its recorded place.
	seq int
}

func (o *Options) defaults() {
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

func recordPath(dir, id string) string { return filepath.Join(dir, "updates", id+".json") }

// tarballName is where the copy of an applied update is kept, relative to
// the state directory.
func tarballName(id string) string { return filepath.Join("updates", id+".tar") }

// checkSignature verifies u against the trusted keys and returns the
// signing key's id; see Options.AllowUnsigned. The refusal says what to
// do about it.
func checkSignature(u *update.Update, o Options) (string, error) {
	id, err := u.Verify(o.Trusted)
	if err == nil {
		return id, nil
	}
	keys := o.KeysDir
	if keys == "" {
		keys = sign.DefaultTrustedDir
	}
	switch {
	case o.AllowUnsigned && (errors.Is(err, sign.ErrUnsigned) || errors.Is(err, sign.ErrUntrustedKey)):
		fmt.Fprintf(o.Log, "apply: warning: %v; applying it anyway (--allow-unsigned)\n", err)
		return "", nil
	case errors.Is(err, sign.ErrUnsigned):
		return "", fmt.Errorf("%w: sign it (ksplice create --sign KEY, or ksplice sign --key KEY UPDATE.tar) with a key whose public half is in %s, or pass --allow-unsigned", err, keys)
	case errors.Is(err, sign.ErrUntrustedKey):
		return "", fmt.Errorf("%w: install that key's public key in %s if you trust it, or pass --allow-unsigned", err, keys)
	default:
		return "", fmt.Errorf("%w: do not apply it", err)
	}
}

// Apply applies u to the running kernel: checks it is for this kernel,
// loads the engine if needed and the update's modules, and asks the engine
// to apply each target. On any failure everything it loaded is reversed
// and unloaded. Errors wrap ErrAlreadyApplied (with the record),
// ErrWrongKernel, ErrTargetNotLoaded, kmod.ErrNotRoot or kmod.ErrAborted.
func Apply(u *update.Update, o Options) (*Record, error) {
	o.defaults()
	m := u.Manifest
	release, machine, err := kmod.Uname()
	if err != nil {
		return nil, err
	}
	if release != m.Kernel.Release || machine != m.Kernel.Machine {
		return nil, fmt.Errorf("%w: %s is for %s (%s); this kernel is %s (%s)", ErrWrongKernel, m.ID, m.Kernel.Release, m.Kernel.Machine, release, machine)
	}
	signedBy, err := checkSignature(u, o)
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("apply %s: %w", m.ID, kmod.ErrNotRoot)
	}
	if rec, err := readRecord(o.StateDir, m.ID); err == nil {
		if st, _ := (kmod.Update{ID: m.EngineID(m.Targets[0])}).Stage(); st == "applied" {
			return rec, fmt.Errorf("%s: %w", m.ID, ErrAlreadyApplied)
		}
		// A record the kernel does not back is from before a reboot, or
		// for another kernel, or of an undo that kept modules (applied
		// again below): it stays until this apply replaces it, so that a
		// failed apply leaves it for the next boot to retry.
	}
	for _, t := range m.Targets {
		if t.Name != "vmlinux" && !kmod.Loaded(t.Name) {
			return nil, fmt.Errorf("%w: %s patches module %s, which is not loaded (load it first)", ErrTargetNotLoaded, m.ID, t.Name)
		}
	}
	if err := checkModuleSignatures(u); err != nil {
		return nil, err
	}

	// undo holds what to take back, newest last. A step of the rollback
	// that fails is never dropped: the error comes back joined to the
	// cause, and a target the engine could not reverse keeps a record,
	// so that list shows it and undo can finish the job.
	var undo []func() error
	stillApplied := false
	rollback := func(cause error) error {
		errs := []error{cause}
		for i := len(undo) - 1; i >= 0; i-- {
			if err := undo[i](); err != nil {
				errs = append(errs, fmt.Errorf("roll back: %w", err))
			}
		}
		return errors.Join(errs...)
	}
	if !kmod.Loaded(CoreModule) {
		if err := kmod.Load(CoreModule, u.Files[m.Core]); err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Log, "apply: loaded the engine (%s)\n", m.Core)
		undo = append(undo, func() error { unloadCoreIfIdle(o.StateDir); return nil })
	}
	for _, t := range m.Targets {
		name := strings.TrimSuffix(t.Module, ".ko")
		if kept, _ := (kmod.Update{ID: m.EngineID(t)}).Attr("kept"); kept == "1" && kmod.Loaded(name) {
			// Kept loaded by an earlier undo: apply it again as it is.
			fmt.Fprintf(o.Log, "apply: %s: module %s is still loaded (kept by an earlier undo)\n", m.ID, name)
			continue
		}
		if err := kmod.Load(name, u.Files[t.Module]); err != nil {
			return nil, rollback(err)
		}
		undo = append(undo, func() error {
			if stillApplied {
				return nil // its update is applied: the module must stay
			}
			return kmod.Unload(name)
		})
		if !(kmod.Update{ID: m.EngineID(t)}).Registered() {
			return nil, rollback(fmt.Errorf("apply %s: %s loaded but did not register with the engine (see dmesg)", m.ID, t.Module))
		}
		if _, err := (kmod.Update{ID: m.EngineID(t)}).Attr("flags"); len(t.Keep) > 0 && err != nil {
			// An engine from before the flag would unload on undo a
			// module that the new code may have published addresses into.
			return nil, rollback(fmt.Errorf("%w: %s must keep its module after undo (%s), which the loaded engine cannot do: undo every update so that the engine is unloaded, then apply again", verdict.ErrRefused, m.ID, keepReason(t)))
		}
	}
	rec := &Record{ID: m.ID, Description: m.Description, Applied: time.Now().UTC(), Kernel: release,
		Targets: m.Targets, StopMachineNs: map[string]int64{}, SignedBy: signedBy}
	// Each target's module is one engine update. The targets of an update
	// switch together, in one stop_machine of the engine (its group
	// file): all of them or none, so that no moment exists where one
	// target runs new code and another old. An engine without the group
	// file (loaded by an older update) is driven target by target, each
	// taken back if a later one is refused.
	grouped := false
	if len(m.Targets) > 1 {
		ids := make([]string, len(m.Targets))
		for i, t := range m.Targets {
			ids[i] = m.EngineID(t)
		}
		err := kmod.SetStageGroup("", "apply", ids)
		switch {
		case err == nil:
			grouped = true
			undo = append(undo, func() error {
				err := kmod.SetStageGroup("", "reverse", ids)
				if err != nil {
					stillApplied = true
				}
				return err
			})
			for _, t := range m.Targets {
				rec.StopMachineNs[t.Name], _ = (kmod.Update{ID: m.EngineID(t)}).StopMachineNs()
			}
		case !errors.Is(err, kmod.ErrNoGroup):
			// Nothing was switched: the engine left every target as it was.
			return nil, rollback(err)
		}
	}
	for _, t := range m.Targets {
		if grouped {
			break
		}
		upd := kmod.Update{ID: m.EngineID(t)}
		if err := upd.SetStage("apply"); err != nil {
			return nil, rollbackApplied(o, rec, rollback(err), &stillApplied)
		}
		undo = append(undo, func() error {
			err := upd.SetStage("reverse")
			if err != nil {
				stillApplied = true
			}
			return err
		})
		rec.StopMachineNs[t.Name], _ = upd.StopMachineNs()
	}
	seq, err := nextSeq(o.StateDir)
	if o.seq > 0 {
		seq = o.seq
	}
	if err == nil && len(u.Raw) > 0 {
		// The update as read, signature and all, so that apply --boot
		// can verify and apply it again after a reboot.
		rec.Tarball = tarballName(m.ID)
		if err = os.MkdirAll(filepath.Join(o.StateDir, "updates"), 0o755); err == nil {
			err = renameio.WriteFile(filepath.Join(o.StateDir, rec.Tarball), u.Raw, 0o600)
		}
	}
	if err == nil {
		rec.Seq = seq
		err = writeRecord(o.StateDir, rec)
	}
	if err != nil {
		return nil, rollbackApplied(o, rec, rollback(fmt.Errorf("apply %s: record it: %w", m.ID, err)), &stillApplied)
	}
	return rec, nil
}

// checkModuleSignatures refuses, before anything is loaded, an update
// whose modules carry no signature when the kernel loads only signed
// ones: the kernel would refuse the first of them anyway, with a message in
// dmesg only. Whether the key is one the kernel trusts only the kernel can
// tell (kmod.Load reports its refusal as kmod.ErrSignatureRejected).
func checkModuleSignatures(u *update.Update) error {
	required, why := kmod.ModuleSigRequired()
	if !required {
		return nil
	}
	m := u.Manifest
	var names []string
	if !kmod.Loaded(CoreModule) {
		names = append(names, m.Core)
	}
	for _, t := range m.Targets {
		names = append(names, t.Module)
	}
	var unsigned []string
	for _, n := range names {
		if _, err := modsig.Parse(u.Files[n]); err != nil {
			unsigned = append(unsigned, n)
		}
	}
	if len(unsigned) == 0 {
		return nil
	}
	return fmt.Errorf("%w: this kernel loads only signed modules (%s), and %s of %s carry no signature; nothing was loaded. Create the update with --module-sign-key KEY --module-sign-cert CERT, with a key this kernel trusts (built in, or enrolled with mokutil --import)",
		ErrModulesUnsigned, why, strings.Join(unsigned, ", "), m.ID)
}

// rollbackApplied finishes a failed apply whose rollback could not reverse
// every target: the update is recorded as it stands, so that list shows it
// and undo can take it back, and the error says so.
func rollbackApplied(o Options, rec *Record, err error, stillApplied *bool) error {
	if !*stillApplied {
		return err
	}
	if seq, serr := nextSeq(o.StateDir); serr == nil {
		rec.Seq = seq
		if werr := writeRecord(o.StateDir, rec); werr != nil {
			return errors.Join(err, fmt.Errorf("record the partly applied %s: %w", rec.ID, werr))
		}
	}
	return errors.Join(err, fmt.Errorf("%s is partly applied: ksplice undo %s takes back the rest", rec.ID, rec.ID))
}

// Undo reverses an applied update and unloads its modules. The engine
// refuses, with the reason, to reverse an update that a later one stacks
// on, or while a task runs the new code.
func Undo(id string, o Options) (*Record, error) {
	o.defaults()
	rec, err := readRecord(o.StateDir, id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (ksplice list shows what is applied)", id, ErrUnknown)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("undo %s: %w", id, kmod.ErrNotRoot)
	}
	m := update.Manifest{ID: rec.ID, Targets: rec.Targets}
	if len(rec.Kept) > 0 {
		// Undone before, with modules kept: nothing left to do.
		return rec, nil
	}
	// The applied targets switch back together, in one stop_machine, or
	// none does (see Apply); one at a time with an engine without the
	// group file.
	var ids []string
	var applied []update.Target
	for _, t := range rec.Targets {
		if st, err := (kmod.Update{ID: m.EngineID(t)}).Stage(); err == nil && st == "applied" {
			ids = append(ids, m.EngineID(t))
			applied = append(applied, t)
		}
	}
	grouped := false
	if len(ids) > 1 {
		err := kmod.SetStageGroup("", "reverse", ids)
		if err != nil && !errors.Is(err, kmod.ErrNoGroup) {
			return nil, err
		}
		if err == nil {
			grouped = true
			for _, t := range applied {
				rec.StopMachineNs["undo:"+t.Name], _ = (kmod.Update{ID: m.EngineID(t)}).StopMachineNs()
			}
		}
	}
	for i := len(rec.Targets) - 1; i >= 0 && !grouped; i-- {
		t := rec.Targets[i]
		upd := kmod.Update{ID: m.EngineID(t)}
		if st, err := upd.Stage(); err == nil && st == "applied" {
			if err := upd.SetStage("reverse"); err != nil {
				// Put back what this undo reversed: all or nothing. A
				// target that cannot be put back is said, never dropped.
				errs := []error{err}
				for _, t := range rec.Targets[i+1:] {
					if perr := (kmod.Update{ID: m.EngineID(t)}).SetStage("apply"); perr != nil {
						errs = append(errs, fmt.Errorf("put back %s: %w (ksplice list shows the state; undo %s again to finish)", t.Name, perr, id))
					}
				}
				return nil, errors.Join(errs...)
			}
			rec.StopMachineNs["undo:"+t.Name], _ = upd.StopMachineNs()
		}
	}
	var errs []error
	for i := len(rec.Targets) - 1; i >= 0; i-- {
		t := rec.Targets[i]
		// The engine kept the module (its new code may have published
		// addresses into it): it refuses to let it go, and so do we.
		if kept, _ := (kmod.Update{ID: m.EngineID(t)}).Attr("kept"); kept == "1" {
			rec.Kept = append(rec.Kept, t.Name)
			fmt.Fprintf(o.Log, "undo: %s: module %s stays loaded: %s\n", id, t.Module, keepReason(t))
			continue
		}
		if err := kmod.Unload(strings.TrimSuffix(t.Module, ".ko")); err != nil {
			errs = append(errs, err)
		}
	}
	if len(rec.Kept) > 0 {
		// The record stays, so that list shows what is still loaded.
		if err := writeRecord(o.StateDir, rec); err != nil {
			errs = append(errs, fmt.Errorf("record the kept modules of %s: %w", id, err))
		}
		return rec, errors.Join(errs...)
	}
	if err := os.Remove(recordPath(o.StateDir, id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := os.Remove(filepath.Join(o.StateDir, tarballName(id))); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	unloadCoreIfIdle(o.StateDir)
	return rec, errors.Join(errs...)
}

// keepReason says why the engine kept t's module: the reasons create
// recorded, or, for an update made without them, the engine's flag.
func keepReason(t update.Target) string {
	if len(t.Keep) == 0 {
		return "the update is marked to keep its module (KSPLICE_UPDATE_KEEP_MODULE)"
	}
	return strings.Join(t.Keep, "; ")
}

// List returns the applied updates, newest first, with the engine's stage
// of each, reconciled with the kernel: a record whose update the kernel
// does not have applied (after a reboot, or a failed undo) and an update
// the kernel has applied without a record (its record lost, or applied by
// hand through sysfs) both come back with a Disagreement that says so;
// the latter as a record of its own, with only the engine id known.
func List(o Options) ([]*Record, error) {
	o.defaults()
	ents, err := os.ReadDir(filepath.Join(o.StateDir, "updates"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	release, _, _ := kmod.Uname()
	recorded := map[string]bool{}
	var recs []*Record
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		rec, err := readRecord(o.StateDir, id)
		if err != nil {
			return nil, err
		}
		m := update.Manifest{ID: rec.ID, Targets: rec.Targets}
		for _, t := range rec.Targets {
			eid := m.EngineID(t)
			recorded[eid] = true
			st, err := (kmod.Update{ID: eid, Root: o.SysfsRoot}).Stage()
			if err != nil {
				st = "missing"
			}
			if len(rec.Kept) > 0 {
				// Undone, with modules kept: reversed in the kernel is
				// what the record says.
				rec.Stage = StageKept
				if kept, _ := (kmod.Update{ID: eid, Root: o.SysfsRoot}).Attr("kept"); slices.Contains(rec.Kept, t.Name) && (st != "reversed" || kept != "1") {
					rec.Disagreement = fmt.Sprintf("recorded as undone with module %s kept, but the kernel has %s %s (kept %q)", t.Module, eid, st, kept)
				}
				continue
			}
			if rec.Stage == "" || st != "applied" {
				rec.Stage = st
			}
			switch {
			case st == "applied":
			case rec.Kernel != "" && rec.Kernel != release:
				rec.Disagreement = fmt.Sprintf("recorded for kernel %s; this kernel is %s (apply --boot re-applies it when %s runs)", rec.Kernel, release, rec.Kernel)
			case st == "missing":
				rec.Disagreement = fmt.Sprintf("recorded as applied, but the kernel does not have %s (rebooted since? apply --boot re-applies it)", eid)
			default:
				rec.Disagreement = fmt.Sprintf("recorded as applied, but the kernel has %s %s", eid, st)
			}
		}
		recs = append(recs, rec)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Seq > recs[j].Seq })
	ids, err := kmod.Registered(o.SysfsRoot)
	if err != nil {
		return nil, err
	}
	for _, eid := range ids {
		if recorded[eid] {
			continue
		}
		if st, _ := (kmod.Update{ID: eid, Root: o.SysfsRoot}).Stage(); st == "applied" {
			recs = append(recs, &Record{ID: eid, Stage: st,
				Disagreement: fmt.Sprintf("applied in the kernel, but not recorded in %s", filepath.Join(o.StateDir, "updates"))})
		}
	}
	return recs, nil
}

// unloadCoreIfIdle unloads the engine when no update is recorded for the
// running kernel (records of other kernels wait for apply --boot there).
func unloadCoreIfIdle(stateDir string) {
	release, _, _ := kmod.Uname()
	ents, _ := os.ReadDir(filepath.Join(stateDir, "updates"))
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if rec, err := readRecord(stateDir, id); err != nil || rec.Kernel == "" || rec.Kernel == release {
			return
		}
	}
	kmod.Unload(CoreModule)
}

func readRecord(dir, id string) (*Record, error) {
	if !update.ValidID(id) {
		return nil, fmt.Errorf("bad update id %q", id)
	}
	b, err := os.ReadFile(recordPath(dir, id))
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", recordPath(dir, id), err)
	}
	if r.StopMachineNs == nil {
		r.StopMachineNs = map[string]int64{}
	}
	return &r, nil
}

func writeRecord(dir string, r *Record) error {
	p := recordPath(dir, r.ID)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return renameio.WriteFile(p, b, 0o644)
}

func nextSeq(dir string) (int, error) {
	recs, err := List(Options{StateDir: dir})
	if err != nil {
		return 0, err
	}
	if len(recs) == 0 {
		return 1, nil
	}
	return recs[0].Seq + 1, nil
}
