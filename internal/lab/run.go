package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/run"
)

// KVMMode says whether to use hardware virtualisation.
type KVMMode string

const (
	KVMAuto KVMMode = "auto" // use KVM if a guest really boots with it
	KVMOn   KVMMode = "on"   // use KVM or fail
	KVMOff  KVMMode = "off"  // always emulate (TCG)
)

// RunOptions describe one guest run.
type RunOptions struct {
	Kernel      *kbuild.Kernel
	Command     []string // run as root in the guest, in /root
	Files       []File   // extra files for the guest
	Modules     []string // modules of the image to load (with modprobe) before Command
	GuestBinary string   // statically linked ksplice for the guest's arch
	SMP         int      // virtual CPUs; 0 means 2
	MemoryMB    int      // guest memory; 0 means 1024
	// MultiThreadTCG runs each virtual CPU in a host thread of its own
	// when emulating (QEMU's default, tcg,thread=multi). The lab runs
	// them all in one thread (tcg,thread=single) unless this is set:
	// QEMU 7.2's multi-threaded TCG can keep running a stale translation
	// of guest code that another vCPU rewrote, and trap for ever on an
	// int3 that is no longer in memory (docs/kernel-interface.md, "Soak").
	// Every apply rewrites code all CPUs run: the engine's sched_switch
	// probe turns on a tracepoint in __schedule() for the round, so no
	// lab run is safe from it. Real CPUs (and KVM) refetch after the
	// trap's IRET. The vCPUs still interleave in one thread, and one
	// thread costs the sample updates 3% (126 s against 122 s). Ignored
	// under KVM.
	MultiThreadTCG bool
	KVM            KVMMode // "" means auto
	Timeout        time.Duration
	CacheDir       string // where the KVM probe's verdict is remembered
	// KernelArgs are added to the guest kernel's command line, after the
	// lab's own ("module.sig_enforce=1").
	KernelArgs []string
	// Disk is a raw ext4 image on the host that the guest mounts at
	// DiskMount (default DefaultDiskMount) for the command, and that
	// keeps what the guest wrote there from one run to the next: a
	// machine's disk across reboots. Created (DiskSizeMB) if missing.
	Disk      string
	DiskMount string

	Stdout, Stderr io.Writer // the command's own output
	Console        io.Writer // everything the guest's console printed
}

// Result is what a finished guest run reports.
type Result struct {
	ExitCode int           // the command's exit status; -1 if it did not finish
	Accel    string        // "kvm" or "tcg"
	Boot     time.Duration // from starting QEMU to the command starting
	Total    time.Duration // from starting QEMU to its exit
}

var (
	// ErrGuestKernel means the guest kernel reported a problem on its
	// console (oops, BUG, WARNING, panic): whatever ran is not to be trusted.
	ErrGuestKernel = errors.New("guest kernel reported a problem")
	// ErrTimeout means the guest did not finish in time.
	ErrTimeout = errors.New("guest timed out")
	// ErrCommandNotFound means the command does not exist in the guest.
	ErrCommandNotFound = errors.New("command not found in the guest")
)

// KernelProblemError names the console line that showed a kernel problem.
type KernelProblemError struct {
	Line    string // the first line that matched
	Console string // where the whole console log was kept, if anywhere
}

func (e *KernelProblemError) Error() string {
	return fmt.Sprintf("%v: %q", ErrGuestKernel, e.Line)
}

func (e *KernelProblemError) Unwrap() error { return ErrGuestKernel }

// kernelProblem matches the console lines that mean the kernel is unwell.
var kernelProblem = regexp.MustCompile(`Oops|BUG:|WARNING:|Call Trace|Kernel panic|general protection fault|Unable to handle kernel`)

// Run boots opts.Kernel under QEMU, runs opts.Command in it and returns its
// exit status. The command's output streams to opts.Stdout and opts.Stderr as
// it is produced. Errors wrap ErrGuestKernel (with a *KernelProblemError),
// ErrTimeout or ErrCommandNotFound; a command that fails is not an error,
// its status is in the Result.
func Run(ctx context.Context, opts RunOptions) (*Result, error) {
	if len(opts.Command) == 0 {
		return nil, errors.New("lab run: no command")
	}
	spec, err := ParseSpec(opts.Kernel.Spec)
	if err != nil {
		return nil, err
	}
	g, err := guestFor(spec.Arch)
	if err != nil {
		return nil, err
	}
	accel, err := chooseAccel(ctx, g, opts)
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		res, err := boot(ctx, g, accel, opts)
		if !errors.Is(err, errBootStalled) && !errors.Is(err, errBootCrashed) || attempt == bootAttempts {
			return res, err
		}
		// Nothing of the command ran, nor any user space: booting
		// again is safe, and what failed was not under test.
		if opts.Console != nil {
			fmt.Fprintf(opts.Console, "ksplice-lab: %v; booting again (attempt %d of %d)\n", err, attempt+1, bootAttempts)
		}
	}
}

const (
	// bootStall is how long a booting guest may print nothing on its
	// console before it is taken for hung. Under TCG on a loaded host a
	// guest was seen to stop early in boot for good, once in many boots.
	bootStall = 60 * time.Second
	// bootAttempts bounds the boots of one run.
	bootAttempts = 3
)

// errBootStalled means the guest hung before the command started.
var errBootStalled = errors.New("guest hung while booting")

// errBootCrashed means the guest's kernel reported a problem before it
// started init: the stock kernel's own boot, before any user space and so
// before anything of ksplice or of the command ran. Seen once in many
// boots under TCG (a double fault in __kmalloc_noprof at 0.46 s, 6.12
// cloud-amd64, one vCPU thread); it is the emulator's or the kernel's own
// boot, not an outcome of the test, and the boot is retried. A problem
// after init started fails the run as always.
var errBootCrashed = errors.New("guest kernel crashed while booting, before init")

// initStarted is the kernel's line as it runs init (kernel_init()).
const initStarted = "Run /init as init process"

// boot boots the guest once: it writes the initramfs, opens the sockets of
// the guest's ports, and runs QEMU on the command line qemuCommand makes.
func boot(ctx context.Context, g *guest, accel string, opts RunOptions) (*Result, error) {
	qemu, err := run.LookTool(g.QEMU, g.QEMUPackage)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if opts.Disk != "" {
		if err := prepareDisk(ctx, opts.Disk); err != nil {
			return nil, err
		}
	}
	tmp, err := os.MkdirTemp("", "ksplice-lab-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	initrd := filepath.Join(tmp, "initramfs.cpio")
	if err := writeGuestInitramfs(ctx, g, opts, initrd); err != nil {
		return nil, err
	}
	// QEMU connects to a socket of ours for each port.
	var socks [len(portNames)]string
	var lns [len(portNames)]net.Listener
	for i, name := range portNames {
		socks[i] = filepath.Join(tmp, name+".sock")
		ln, err := net.Listen("unix", socks[i])
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		lns[i] = ln
	}
	argv, _ := qemuCommand(g, accel, opts, initrd, socks)
	argv[0] = qemu
	return runQEMU(ctx, g, accel, opts, argv, lns)
}

// DefaultDiskMount is where the guest mounts RunOptions.Disk: ksplice's
// state directory, so that applied updates' records persist.
const DefaultDiskMount = "/var/lib/ksplice"

// DiskSizeMB is the size of a disk image the lab creates.
const DiskSizeMB = 64

// prepareDisk creates the disk image at path, an empty ext4 file system,
// unless it exists.
func prepareDisk(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("lab disk: %w", err)
	}
	mke2fs, err := run.LookTool("mke2fs", "e2fsprogs")
	if err != nil {
		return err
	}
	// Made beside its name and renamed, so that a failed mke2fs leaves
	// no half-made disk to be taken for a good one next time.
	tmp := path + ".new"
	if _, err := run.Command(ctx, "", mke2fs, "-q", "-F", "-t", "ext4", "-L", "ksplice-lab", tmp, strconv.Itoa(DiskSizeMB)+"M"); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("lab disk: %w", err)
	}
	return os.Rename(tmp, path)
}

func (o RunOptions) withDefaults() RunOptions {
	if o.Disk != "" && o.DiskMount == "" {
		o.DiskMount = DefaultDiskMount
	}
	if o.SMP <= 0 {
		o.SMP = 2
	}
	if o.MemoryMB <= 0 {
		o.MemoryMB = 1024
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	for _, w := range []*io.Writer{&o.Stdout, &o.Stderr, &o.Console} {
		if *w == nil {
			*w = io.Discard
		}
	}
	return o
}

// writeGuestInitramfs writes the guest's initramfs to path: busybox, the
// guest's ksplice, opts.Files, and the modules of the image the guest
// loads (the arch's output port drivers and opts.Modules).
func writeGuestInitramfs(ctx context.Context, g *guest, opts RunOptions, path string) error {
	// A module the kernel has built in is there already: Debian's 6.12
	// arm64 kernels build virtio_console in, its 6.1 ones as a module.
	builtin, err := builtinModules(opts.Kernel)
	if err != nil {
		return err
	}
	gb := *g
	gb.OutputModules = notBuiltin(g.OutputModules, builtin)
	g = &gb
	userMods := opts.Modules
	diskMount := ""
	if opts.Disk != "" {
		userMods = append(append([]string{}, g.DiskModules...), userMods...)
		diskMount = opts.DiskMount
	}
	userMods = notBuiltin(userMods, builtin)
	mods, err := moduleFiles(ctx, opts.Kernel, append(append([]string{}, g.OutputModules...), userMods...))
	if err != nil {
		return err
	}
	// Soft dependencies first (modprobe'd before the rest), with theirs.
	if pre, err := preSoftdeps(opts.Kernel, userMods); err != nil {
		return err
	} else if pre = notBuiltin(pre, builtin); len(pre) > 0 {
		userMods = append(pre, userMods...)
		if mods, err = moduleFiles(ctx, opts.Kernel, append(append([]string{}, g.OutputModules...), userMods...)); err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = writeInitramfs(f, g, opts.Kernel.Busybox, opts.GuestBinary, append(append([]File{}, opts.Files...), mods...), opts.Command, userMods, diskMount)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// portNames are the guest's ports, in order: the console (a serial port),
// the command's stdout and its stderr (serial or virtio serial ports, as
// the guest table says).
var portNames = [...]string{"console", "stdout", "stderr"}

// qemuCommand returns the command line that boots opts.Kernel (argv, whose
// argv[0] is the emulator's name) with the initramfs initrd under accel
// ("kvm" or "tcg"), each of its ports connected to the unix socket of
// socks (console, stdout, stderr, as portNames), and the kernel command
// line it passes. opts has its defaults (withDefaults).
func qemuCommand(g *guest, accel string, opts RunOptions, initrd string, socks [len(portNames)]string) (argv []string, cmdline string) {
	cmdline = fmt.Sprintf("console=%s panic=-1 oops=panic", g.Console)
	if len(opts.KernelArgs) > 0 {
		cmdline += " " + strings.Join(opts.KernelArgs, " ")
	}
	argv = append([]string{g.QEMU}, g.MachineArgs...)
	accelArg := accel
	if accel == "tcg" && !opts.MultiThreadTCG {
		accelArg = "tcg,thread=single"
	}
	argv = append(argv,
		"-accel", accelArg,
		"-smp", strconv.Itoa(opts.SMP),
		"-m", strconv.Itoa(opts.MemoryMB),
		"-kernel", opts.Kernel.Image,
		"-initrd", initrd,
		"-append", cmdline,
		"-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot",
	)
	if accel == "kvm" {
		argv = append(argv, g.KVMArgs...)
	}
	if opts.Disk != "" {
		argv = append(argv, "-drive", "file="+opts.Disk+",format=raw,if=none,id=disk0,cache=writeback",
			"-device", g.DiskDevice+",drive=disk0")
	}
	argv = append(argv, g.OutputBus...)
	for i, name := range portNames {
		argv = append(argv, "-chardev", fmt.Sprintf("socket,id=%s,path=%s", name, socks[i]))
		if i == 0 || g.OutputPort == "" {
			argv = append(argv, "-serial", "chardev:"+name)
		} else {
			argv = append(argv, "-device", fmt.Sprintf(g.OutputPort, name))
		}
	}
	return argv, cmdline
}

// runQEMU runs the emulator (argv) until the guest powers off, the run
// times out or the boot stalls, streaming the command's output from the
// ports QEMU connects to (lns, as portNames) and watching the console.
//
// QEMU runs through os/exec, not internal/run: it is a long-running process
// whose streams are our sockets, which must be connected while it runs and
// watched for stalls, where run.Cmd runs a command to completion and
// collects its output.
func runQEMU(ctx context.Context, g *guest, accel string, opts RunOptions, argv []string, lns [len(portNames)]net.Listener) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	// stalled ends QEMU when the boot stalls, telling it apart from the
	// run's own timeout.
	stallCtx, stall := context.WithCancel(ctx)
	defer stall()
	var qerr strings.Builder
	cmd := exec.CommandContext(stallCtx, argv[0], argv[1:]...)
	cmd.Stdout = &qerr
	cmd.Stderr = &qerr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", g.QEMU, err)
	}

	conns := make([]net.Conn, len(lns))
	acceptErr := make(chan error, 1)
	go func() {
		for i := range lns {
			c, err := lns[i].Accept()
			if err != nil {
				acceptErr <- err
				return
			}
			conns[i] = c
		}
		acceptErr <- nil
	}()
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()

	select {
	case err := <-acceptErr:
		if err != nil {
			cmd.Process.Kill()
			<-waitErr
			return nil, fmt.Errorf("connect to %s: %w", g.QEMU, err)
		}
	case err := <-waitErr:
		return nil, fmt.Errorf("%s exited before the guest started: %v: %s", g.QEMU, err, strings.TrimSpace(qerr.String()))
	}

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(opts.Stdout, conns[1]) }()
	go func() { defer wg.Done(); io.Copy(opts.Stderr, conns[2]) }()

	mon := &consoleMonitor{log: opts.Console, start: start, lastAt: start}
	monDone := make(chan struct{})
	go func() { mon.read(conns[0]); close(monDone) }()
	stalled := false
	watch := time.NewTicker(time.Second)
	defer watch.Stop()
	var werr error
wait:
	for {
		select {
		case werr = <-waitErr:
			break wait
		case <-watch.C:
			if mon.stalledFor() > bootStall {
				stalled = true
				stall()
			}
		}
	}
	total := time.Since(start)
	for _, c := range conns {
		c.Close()
	}
	<-monDone
	wg.Wait()

	res := &Result{ExitCode: mon.exit, Accel: accel, Boot: mon.boot, Total: total}
	return res, mon.outcome(stalled, stallCtx.Err(), opts.Timeout, werr, qerr.String())
}

// outcome is the error of a finished run, from what the console showed:
// nil when the command ran to its end, whatever its status. stalled says
// the boot was stopped for stalling, ctxErr is the run's context's error,
// werr QEMU's exit and qemuOut what it printed.
func (m *consoleMonitor) outcome(stalled bool, ctxErr error, timeout time.Duration, werr error, qemuOut string) error {
	switch {
	case stalled && m.problem == "":
		return fmt.Errorf("%w: no console output for %v (last line: %q)", errBootStalled, bootStall, m.last)
	case m.problem != "" && !m.initRan:
		return fmt.Errorf("%w: %w", errBootCrashed, &KernelProblemError{Line: m.problem})
	case m.problem != "":
		return &KernelProblemError{Line: m.problem}
	case ctxErr == context.DeadlineExceeded:
		return fmt.Errorf("%w after %v (last console line: %q)", ErrTimeout, timeout, m.last)
	case ctxErr != nil:
		return ctxErr
	case m.noDisk != "":
		return fmt.Errorf("the guest could not mount the lab disk (%s; last console line: %q)", m.noDisk, m.last)
	case m.modprobe != "":
		return fmt.Errorf("modprobe %s failed in the guest (last console line: %q)", m.modprobe, m.last)
	case m.noPort != "":
		return fmt.Errorf("the guest's output port %s did not appear (last console line: %q)", m.noPort, m.last)
	case m.notFound != "":
		return fmt.Errorf("%w: %s (the guest has busybox, ksplice in /bin, and --file files)", ErrCommandNotFound, m.notFound)
	case m.exit < 0:
		msg := strings.TrimSpace(qemuOut)
		if werr != nil {
			msg = werr.Error() + ": " + msg
		}
		return fmt.Errorf("guest stopped before the command finished (last console line: %q) %s", m.last, msg)
	}
	return nil
}

// consoleMonitor reads the guest console line by line: it keeps the log,
// watches for kernel problems, and follows init's markers.
type consoleMonitor struct {
	log      io.Writer
	start    time.Time
	boot     time.Duration
	exit     int
	notFound string
	modprobe string // a module that failed to load
	noPort   string // an output port that did not appear
	noDisk   string // the disk that could not be mounted
	problem  string
	initRan  bool // the kernel started init (initStarted)
	last     string

	mu      sync.Mutex // guards lastAt and started, read by the watchdog
	lastAt  time.Time  // when the console last printed a line
	started bool       // the command has started
}

// stalledFor returns how long a guest that has not started the command yet
// has printed nothing; 0 once the command started.
func (m *consoleMonitor) stalledFor() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started {
		return 0
	}
	return time.Since(m.lastAt)
}

func (m *consoleMonitor) read(r io.Reader) {
	m.exit = -1
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		fmt.Fprintln(m.log, line)
		m.last = line
		m.mu.Lock()
		m.lastAt = time.Now()
		m.mu.Unlock()
		if m.problem == "" && kernelProblem.MatchString(line) {
			m.problem = line
		}
		if m.problem == "" && strings.Contains(line, initStarted) {
			m.initRan = true
		}
		if i := strings.Index(line, markerStart); i >= 0 {
			m.boot = time.Since(m.start)
			m.mu.Lock()
			m.started = true
			m.mu.Unlock()
		} else if i := strings.Index(line, markerModule+" "); i >= 0 {
			m.modprobe = strings.TrimSpace(line[i+len(markerModule)+1:])
		} else if i := strings.Index(line, markerNoDisk+" "); i >= 0 {
			m.noDisk = strings.TrimSpace(line[i+len(markerNoDisk)+1:])
		} else if i := strings.Index(line, markerNoPort+" "); i >= 0 {
			m.noPort = strings.TrimSpace(line[i+len(markerNoPort)+1:])
		} else if i := strings.Index(line, markerNotFound+" "); i >= 0 {
			m.notFound = strings.TrimSpace(line[i+len(markerNotFound)+1:])
		} else if i := strings.Index(line, markerExit+" "); i >= 0 {
			if f := strings.Fields(line[i+len(markerExit)+1:]); len(f) > 0 {
				if n, err := strconv.Atoi(f[0]); err == nil {
					m.exit = n
				}
			}
		}
	}
}
