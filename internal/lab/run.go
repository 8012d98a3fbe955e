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
	KVM         KVMMode  // "" means auto
	Timeout     time.Duration
	CacheDir    string // where the KVM probe's verdict is remembered

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
		if !errors.Is(err, errBootStalled) || attempt == bootAttempts {
			return res, err
		}
		// Nothing of the command ran: booting again is safe.
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

func boot(ctx context.Context, a *guest, accel string, opts RunOptions) (*Result, error) {
	qemu, err := run.LookTool(a.QEMU, a.QEMUPackage)
	if err != nil {
		return nil, err
	}
	if opts.SMP <= 0 {
		opts.SMP = 2
	}
	if opts.MemoryMB <= 0 {
		opts.MemoryMB = 1024
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	for _, w := range []*io.Writer{&opts.Stdout, &opts.Stderr, &opts.Console} {
		if *w == nil {
			*w = io.Discard
		}
	}
	tmp, err := os.MkdirTemp("", "ksplice-lab-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	initrd := filepath.Join(tmp, "initramfs.cpio")
	f, err := os.Create(initrd)
	if err != nil {
		return nil, err
	}
	mods, err := moduleFiles(ctx, opts.Kernel, append(append([]string{}, a.OutputModules...), opts.Modules...))
	if err != nil {
		f.Close()
		return nil, err
	}
	for _, m := range mods {
		if strings.HasPrefix(filepath.Base(m.Host), "ksplice-modules-dep-") {
			defer os.Remove(m.Host)
		}
	}
	err = writeInitramfs(f, a, opts.Kernel.Busybox, opts.GuestBinary, append(append([]File{}, opts.Files...), mods...), opts.Command, opts.Modules)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}

	// QEMU connects to a socket of ours for each port: the console (a
	// serial port), command stdout, command stderr (serial or virtio
	// console ports, as the arch says).
	ports := []struct {
		name string
		ln   net.Listener
	}{{name: "console"}, {name: "stdout"}, {name: "stderr"}}
	args := append([]string{}, a.MachineArgs...)
	args = append(args,
		"-accel", accel,
		"-smp", strconv.Itoa(opts.SMP),
		"-m", strconv.Itoa(opts.MemoryMB),
		"-kernel", opts.Kernel.Image,
		"-initrd", initrd,
		"-append", fmt.Sprintf("console=%s panic=-1 oops=panic", a.Console),
		"-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot",
	)
	if accel == "kvm" {
		args = append(args, a.KVMArgs...)
	}
	args = append(args, a.OutputBus...)
	for i := range ports {
		p := filepath.Join(tmp, ports[i].name+".sock")
		ln, err := net.Listen("unix", p)
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports[i].ln = ln
		args = append(args, "-chardev", fmt.Sprintf("socket,id=%s,path=%s", ports[i].name, p))
		if i == 0 || a.OutputPort == "" {
			args = append(args, "-serial", "chardev:"+ports[i].name)
		} else {
			args = append(args, "-device", fmt.Sprintf(a.OutputPort, ports[i].name))
		}
	}

	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	// stalled ends QEMU when the boot stalls, telling it apart from the
	// run's own timeout.
	stallCtx, stall := context.WithCancel(ctx)
	defer stall()
	ctx = stallCtx
	var qerr strings.Builder
	cmd := exec.CommandContext(ctx, qemu, args...)
	cmd.Stdout = &qerr
	cmd.Stderr = &qerr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", a.QEMU, err)
	}

	conns := make([]net.Conn, len(ports))
	acceptErr := make(chan error, 1)
	go func() {
		for i := range ports {
			c, err := ports[i].ln.Accept()
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
			return nil, fmt.Errorf("connect to %s: %w", a.QEMU, err)
		}
	case err := <-waitErr:
		return nil, fmt.Errorf("%s exited before the guest started: %v: %s", a.QEMU, err, strings.TrimSpace(qerr.String()))
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
	switch {
	case stalled && mon.problem == "":
		return res, fmt.Errorf("%w: no console output for %v (last line: %q)", errBootStalled, bootStall, mon.last)
	case mon.problem != "":
		return res, &KernelProblemError{Line: mon.problem}
	case ctx.Err() == context.DeadlineExceeded:
		return res, fmt.Errorf("%w after %v (last console line: %q)", ErrTimeout, opts.Timeout, mon.last)
	case ctx.Err() != nil:
		return res, ctx.Err()
	case mon.modprobe != "":
		return res, fmt.Errorf("modprobe %s failed in the guest (last console line: %q)", mon.modprobe, mon.last)
	case mon.noPort != "":
		return res, fmt.Errorf("the guest's output port %s did not appear (last console line: %q)", mon.noPort, mon.last)
	case mon.notFound != "":
		return res, fmt.Errorf("%w: %s (the guest has busybox, ksplice in /bin, and --file files)", ErrCommandNotFound, mon.notFound)
	case mon.exit < 0:
		msg := strings.TrimSpace(qerr.String())
		if werr != nil {
			msg = werr.Error() + ": " + msg
		}
		return res, fmt.Errorf("guest stopped before the command finished (last console line: %q) %s", mon.last, msg)
	}
	return res, nil
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
	problem  string
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
		if i := strings.Index(line, markerStart); i >= 0 {
			m.boot = time.Since(m.start)
			m.mu.Lock()
			m.started = true
			m.mu.Unlock()
		} else if i := strings.Index(line, markerModule+" "); i >= 0 {
			m.modprobe = strings.TrimSpace(line[i+len(markerModule)+1:])
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
