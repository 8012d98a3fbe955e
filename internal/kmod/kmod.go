package kmod

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ksplice-go/ksplice/internal/verdict"
)

// SysfsRoot is where the engine publishes one directory per registered
// update (docs/kernel-interface.md).
const SysfsRoot = "/sys/kernel/ksplice"

var (
	// ErrNotRoot means loading modules needs privileges the caller lacks.
	ErrNotRoot = errors.New("changing the running kernel needs root (CAP_SYS_MODULE)")
	// ErrAborted means the engine refused to apply or reverse an update;
	// the *AbortError says why.
	ErrAborted = fmt.Errorf("%w by the kernel", verdict.ErrRefused)
	// ErrSignatureRejected means the kernel refused to load a module for
	// its signature: unsigned, signed by a key it does not trust, or not
	// matching.
	ErrSignatureRejected = fmt.Errorf("%w: the kernel rejected the module's signature", verdict.ErrRefused)
)

// ModuleSigRequired reports whether the running kernel loads only modules
// signed by a key it trusts, and what makes it so: "module.sig_enforce=1"
// (CONFIG_MODULE_SIG_FORCE, or the boot parameter) or the lockdown LSM
// in integrity or confidentiality mode (read where securityfs is mounted).
func ModuleSigRequired() (bool, string) {
	if b, err := os.ReadFile("/sys/module/module/parameters/sig_enforce"); err == nil && strings.TrimSpace(string(b)) == "Y" {
		return true, "module.sig_enforce=1"
	}
	if b, err := os.ReadFile("/sys/kernel/security/lockdown"); err == nil {
		for _, mode := range []string{"integrity", "confidentiality"} {
			if strings.Contains(string(b), "["+mode+"]") {
				return true, "lockdown=" + mode
			}
		}
	}
	return false, ""
}

// AbortError is the engine's reason for refusing a stage change, as read
// from the update's abort_cause and abort_message.
type AbortError struct {
	ID      string
	Stage   string // what was asked: "apply" or "reverse"
	Cause   string // stable identifier, e.g. "run_pre_mismatch", "busy"
	Message string // one line naming the function, offset or task
}

func (e *AbortError) Error() string {
	return fmt.Sprintf("%s %s: %s: %s", e.Stage, e.ID, e.Cause, e.Message)
}

func (e *AbortError) Unwrap() error { return ErrAborted }

// Uname returns the running kernel's release and machine.
func Uname() (release, machine string, err error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", "", err
	}
	return unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Machine[:]), nil
}

// Loaded reports whether a module is loaded (built-in modules count).
func Loaded(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/module", strings.ReplaceAll(name, "-", "_")))
	return err == nil
}

// Load loads a module image with finit_module, through a memfd so that the
// bytes checked against the manifest are the bytes loaded.
func Load(name string, image []byte) error {
	fd, err := unix.MemfdCreate("ksplice-"+name, unix.MFD_CLOEXEC)
	if err != nil {
		return fmt.Errorf("load %s: memfd: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	if _, err := f.Write(image); err != nil {
		return fmt.Errorf("load %s: %w", name, err)
	}
	if err := unix.FinitModule(fd, "", 0); err != nil {
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("load %s: %w", name, ErrNotRoot)
		}
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("load %s: a module of that name is already loaded: %w", name, err)
		}
		// The module signature check's errors (kernel/module/signing.c):
		// EKEYREJECTED for an unsigned module or an unknown key when
		// signatures are enforced, EBADMSG and ENOPKG for a signature it
		// cannot read.
		if errors.Is(err, unix.EKEYREJECTED) || errors.Is(err, unix.ENOKEY) || errors.Is(err, unix.EBADMSG) || errors.Is(err, unix.ENOPKG) {
			return fmt.Errorf("load %s: %w (%v): it loads modules signed by a key built into it or enrolled (MOK) only; create the update with --module-sign-key/--module-sign-cert of such a key (dmesg names the reason)", name, ErrSignatureRejected, err)
		}
		return fmt.Errorf("load %s: %w (see dmesg)", name, err)
	}
	return nil
}

// Unload removes a module. A module in use is retried briefly: the engine
// drops its references as an update is reversed.
func Unload(name string) error {
	var err error
	for i := 0; i < 20; i++ {
		err = unix.DeleteModule(name, unix.O_NONBLOCK)
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unload %s: %w", name, err)
	}
	return nil
}

// Update is the engine's view of one registered update.
type Update struct {
	ID string
	// Root is the engine's sysfs directory; "" means SysfsRoot. Tests
	// point it at a directory of their own.
	Root string
}

func (u Update) root() string {
	if u.Root == "" {
		return SysfsRoot
	}
	return u.Root
}

func (u Update) path(attr string) string { return filepath.Join(u.root(), u.ID, attr) }

// Registered reports whether the engine knows the update.
func (u Update) Registered() bool {
	_, err := os.Stat(filepath.Join(u.root(), u.ID))
	return err == nil
}

// Registered returns the engine ids of every update the engine in root
// ("" for SysfsRoot) has registered, in whatever stage; none when the
// engine is not loaded.
func Registered(root string) ([]string, error) {
	if root == "" {
		root = SysfsRoot
	}
	ents, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// Attr reads one attribute of the update, trimmed.
func (u Update) Attr(attr string) (string, error) {
	b, err := os.ReadFile(u.path(attr))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Stage returns the update's stage: "loaded", "applied", "reversed".
func (u Update) Stage() (string, error) { return u.Attr("stage") }

// SetStage asks the engine to "apply" or "reverse" the update. A refusal
// is an *AbortError wrapping ErrAborted.
func (u Update) SetStage(stage string) error {
	err := os.WriteFile(u.path("stage"), []byte(stage+"\n"), 0)
	if err == nil {
		return nil
	}
	cause, cerr := u.Attr("abort_cause")
	msg, _ := u.Attr("abort_message")
	if cerr != nil || cause == "" || cause == "none" {
		return fmt.Errorf("%s %s: %w", stage, u.ID, err)
	}
	return &AbortError{ID: u.ID, Stage: stage, Cause: cause, Message: msg}
}

// StopMachineNs returns how long the last stage change held all CPUs.
func (u Update) StopMachineNs() (int64, error) {
	s, err := u.Attr("stop_machine_ns")
	if err != nil {
		return 0, err
	}
	var n int64
	_, err = fmt.Sscan(s, &n)
	return n, err
}

// ErrNoGroup means the loaded engine has no group file (an engine from
// before it): its updates can only be switched one at a time.
var ErrNoGroup = errors.New("the loaded engine cannot switch updates together")

// SetStageGroup asks the engine to "apply" or "reverse" the updates ids
// together, in one stop_machine: all of them, or, on any failure, none
// (the engine's group file). A refusal is the *AbortError of the update
// that failed; ErrNoGroup when the engine has no group file. root is the
// engine's sysfs directory ("" for SysfsRoot).
func SetStageGroup(root, stage string, ids []string) error {
	if root == "" {
		root = SysfsRoot
	}
	p := filepath.Join(root, "group")
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("%s %s: %w", stage, strings.Join(ids, " "), ErrNoGroup)
	}
	err := os.WriteFile(p, []byte(stage+" "+strings.Join(ids, " ")+"\n"), 0)
	if err == nil {
		return nil
	}
	for _, id := range ids {
		u := Update{ID: id, Root: root}
		cause, cerr := u.Attr("abort_cause")
		if cerr != nil || cause == "" || cause == "none" {
			continue
		}
		msg, _ := u.Attr("abort_message")
		return &AbortError{ID: id, Stage: stage, Cause: cause, Message: msg}
	}
	return fmt.Errorf("%s %s together: %w", stage, strings.Join(ids, " "), err)
}
