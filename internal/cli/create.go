package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ksplice-go/ksplice/internal/create"
	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/lab"
	"github.com/ksplice-go/ksplice/internal/sign"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
	"github.com/ksplice-go/ksplice/internal/verdict"
)

type createOptions struct {
	Kernel        string
	Src           string
	Config        string
	Headers       string
	Cache         string
	ID            string
	Description   string
	Output        string
	KmodSrc       string
	JSON          bool
	Jobs          int
	ForceCompiler bool
	ExactCompiler bool
	After         []string
	Hooks         string
	AllowData     []string
	KeepExports   bool
	Sign          string
	ModSignKey    string
	ModSignCert   string
	Patch         string
	UpgradeTo     string
	MaxObjects    int
	MaxScan       int
	All           bool
	Targets       []string
	Plan          bool
	CachedOnly    bool
	Files         []string
}

func newCreateCmd(s Streams) *cobra.Command {
	opts := &createOptions{}
	cmd := &cobra.Command{
		Use:   "create (--kernel DISTRO:RELEASE | --src DIR [--config FILE] [--headers DIR]) [flags] (PATCH | --upgrade-to VERSION)",
		Short: "Build an update tarball from a unified diff",
		Long: `Build a rebootless update from a unified diff against the kernel's source.

The objects the patch touches are built before and after it, with one
section per function, through the kernel's own Kbuild and with the compiler
the kernel was built with; their difference decides which functions the
update replaces. The update module carries the new code and the old code
that must be found in the running kernel, and is built against the kernel's
headers. The result, ksplice-ID.tar, is applied with ksplice apply.

Refused with exit code 3, and the reason: a patch that does not apply, that
changes no object code, that touches assembly, the build, data or __init
code, or that needs what the update format cannot carry.

A patch that changes the initializer of data needs hooks: --hooks FILE.c
is kernel C compiled into the update module (of vmlinux, or of the only
target) that may define int ksplice_hook_pre_apply(void),
void ksplice_hook_post_apply(void), int ksplice_hook_pre_reverse(void) and
void ksplice_hook_post_reverse(void); --allow-data SYMBOL then accepts the
change of SYMBOL, whose live value the hooks set and restore.

With --upgrade-to VERSION instead of a patch (a Debian kernel only), the
updates that bring the kernel to that release of its source package
(linux-source-6.1 6.1.190-1): both releases' sources are compared, every
changed file is classified against the kernel's configuration, each
changed .c file it builds becomes one update (with the changed headers it
includes if it does not build without them), each changed header one that
rebuilds what includes it (at most --max-objects objects), and one
cumulative update carries all that were made. -o names the directory for
the tarballs and the report (report.json, report.html); -j how many
updates are made at once. A re-run reuses every update already made.`,
		Example: `  ksplice create fix.diff      # for the running Debian kernel, debian:$(uname -r)
  ksplice create --kernel debian:6.1.0-55-amd64 fix.diff
  ksplice create --kernel debian:6.1.0-55-amd64 --id cve_2026_1234 -o fix.tar fix.diff
  ksplice create --src ~/linux --config /boot/config-$(uname -r) fix.diff
  ksplice create --kernel debian:6.1.0-55-amd64 --after fix.diff fix2.diff
  ksplice create --kernel debian:6.1.0-55-amd64 --hooks fix.hooks.c --allow-data overflowuid fix.diff
  ksplice create --kernel debian:6.1.0-53-amd64 --upgrade-to 6.1.190-1 -o upgrade -j 2`,
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.UpgradeTo != "" {
				if len(args) != 0 {
					return &usageError{errors.New("create: --upgrade-to takes no patch")}
				}
				return nil
			}
			return exactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.UpgradeTo != "" {
				return runCreateUpgrade(cmd.Context(), opts, s)
			}
			opts.Patch = args[0]
			return runCreate(cmd.Context(), opts, s)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Kernel, "kernel", "", "target kernel, e.g. debian:6.1.0-55-amd64 (fetched into the cache if needed; default: the running Debian kernel)")
	f.StringVar(&opts.Src, "src", "", "instead of --kernel: a clean kernel source tree the running kernel was built from (only read)")
	f.StringVar(&opts.Config, "config", "", "with --src: the kernel's config (default SRC/.config)")
	f.StringVar(&opts.Headers, "headers", "", "with --src: the kernel's headers (default /lib/modules/$(uname -r)/build)")
	f.StringVar(&opts.Cache, "cache", "", "cache directory (default $KSPLICE_CACHE or "+kbuild.DefaultCacheDir+")")
	f.StringVar(&opts.ID, "id", "", "update id: lower-case letters, digits, '_' (default: from the patch)")
	f.StringVar(&opts.Description, "description", "", "one line describing the update (default: the patch's Subject)")
	f.StringVarP(&opts.Output, "output", "o", "", "output file (default ksplice-ID.tar); with --upgrade-to, a directory (default ksplice-upgrade-VERSION)")
	f.StringVar(&opts.KmodSrc, "kmod-src", "", "engine sources (default: kmod-src beside the binary, or $KSPLICE_KMOD_SRC)")
	f.BoolVar(&opts.JSON, "json", false, "print a JSON summary, with each stage's duration")
	f.IntVarP(&opts.Jobs, "jobs", "j", 2, "parallel make jobs; with --upgrade-to, updates made at once")
	f.BoolVar(&opts.ForceCompiler, "force-compiler", false, "build even if the compiler differs from the kernel's (warns)")
	f.BoolVar(&opts.ExactCompiler, "exact-compiler", false, "make every build with the kernel's own compiler, also where the host's cross compiler could make the pre and post builds (slower when the kernel's runs emulated)")
	f.StringArrayVar(&opts.After, "after", nil, "the patch of an update this one stacks on (oldest first; repeatable): PATCH is against the tree with them applied")
	f.StringVar(&opts.Hooks, "hooks", "", "kernel C file with the author's hooks (ksplice_hook_pre_apply, _post_apply, _pre_reverse, _post_reverse)")
	f.StringArrayVar(&opts.AllowData, "allow-data", nil, "with --hooks: accept the changed initializer of this data object, which the hooks set (repeatable)")
	f.BoolVar(&opts.KeepExports, "keep-exports", false, "carry a patch that adds or removes an EXPORT_SYMBOL with the running kernel's exports as they are (the modules it loads were built against them; warns)")
	f.StringVar(&opts.UpgradeTo, "upgrade-to", "", "instead of a patch: make the updates to this release of the kernel's source package (e.g. 6.1.190-1)")
	f.IntVar(&opts.MaxObjects, "max-objects", create.DefaultMaxObjects, "the most objects one update may rebuild (the objects of changed .c files, and those a changed header may change)")
	f.IntVar(&opts.MaxScan, "max-scan", create.DefaultMaxScan, "the most objects that include a changed header to preprocess, finding those whose code it may change")
	f.StringSliceVar(&opts.Targets, "targets", nil, "with --upgrade-to: try only the changed .c files built into these targets (vmlinux, module names); the rest are reported as not tried")
	f.StringSliceVar(&opts.Files, "files", nil, "with --upgrade-to: try only the updates of the changed files matching these patterns (drivers/base/*.c); the rest are reported as not tried")
	f.BoolVar(&opts.Plan, "plan", false, "with --upgrade-to: classify and group the changes, make no update")
	f.BoolVar(&opts.CachedOnly, "cached-only", false, "with --upgrade-to: make no update, report those an earlier run made")
	f.BoolVar(&opts.All, "all", false, "with --upgrade-to: list every changed file, not only those that need an update")
	f.StringVar(&opts.Sign, "sign", "", "sign the update with this secret key (ksplice keygen; password in $"+PasswordEnv+" if encrypted)")
	f.StringVar(&opts.ModSignKey, "module-sign-key", "", "sign the update's kernel modules with this private key (PEM), with the kernel's scripts/sign-file")
	f.StringVar(&opts.ModSignCert, "module-sign-cert", "", "with --module-sign-key: its X.509 certificate (PEM or DER), which the target kernel must trust")
	return cmd
}

func runCreate(ctx context.Context, opts *createOptions, s Streams) error {
	if opts.Kernel != "" && opts.Src != "" {
		return &usageError{errors.New("create: give --kernel DISTRO:RELEASE (e.g. debian:6.1.0-55-amd64) or --src DIR, not both")}
	}
	if opts.Kernel == "" && opts.Src == "" {
		// The user's own kernel: what a patch is usually for.
		spec, err := runningKernelSpec()
		if err != nil {
			return err
		}
		opts.Kernel = spec
		fmt.Fprintf(s.ErrOut, "create: for the running kernel, %s (--kernel or --src for another)\n", spec)
	}
	if opts.Src == "" && (opts.Config != "" || opts.Headers != "") {
		return &usageError{errors.New("create: --config and --headers go with --src")}
	}
	if len(opts.AllowData) > 0 && opts.Hooks == "" {
		return fmt.Errorf("%w: --allow-data %s: the running kernel keeps the old value of changed data; add hooks (--hooks FILE.c) that set the new value in post_apply and restore it in post_reverse",
			verdict.ErrRefused, strings.Join(opts.AllowData, ", "))
	}
	if (opts.ModSignKey == "") != (opts.ModSignCert == "") {
		return &usageError{errors.New("create: --module-sign-key and --module-sign-cert go together")}
	}
	// The key is read first: a wrong password should not cost a build.
	var key *sign.PrivateKey
	if opts.Sign != "" {
		var err error
		if key, err = readSigningKey(opts.Sign); err != nil {
			return fmt.Errorf("--sign: %w", err)
		}
	}
	p, err := srcpatch.ParseFile(opts.Patch)
	if err != nil {
		return err
	}
	var after []*srcpatch.Patch
	for _, a := range opts.After {
		ap, err := srcpatch.ParseFile(a)
		if err != nil {
			return fmt.Errorf("--after: %w", err)
		}
		after = append(after, ap)
	}
	var k *kbuild.Kernel
	if opts.Src != "" {
		headers := opts.Headers
		if headers == "" {
			if rel, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
				headers = "/lib/modules/" + strings.TrimSpace(string(rel)) + "/build"
			}
		}
		k, err = kbuild.FromSource(ctx, kbuild.SourceOptions{Source: opts.Src, Config: opts.Config, Headers: headers,
			CacheDir: opts.Cache, Log: s.ErrOut, Jobs: opts.Jobs})
	} else {
		var spec lab.Spec
		if spec, err = lab.ParseSpec(opts.Kernel); err != nil {
			return err
		}
		k, err = lab.Fetch(ctx, spec, lab.FetchOptions{CacheDir: opts.Cache, Log: s.ErrOut, Jobs: opts.Jobs})
	}
	if err != nil {
		return err
	}
	res, err := create.Create(ctx, create.Options{
		Kernel: k, Patch: p, PatchName: opts.Patch, After: after, ID: opts.ID, Description: opts.Description,
		Output: opts.Output, KmodSrc: opts.KmodSrc, ForceCompiler: opts.ForceCompiler, ExactCompiler: opts.ExactCompiler,
		Hooks: opts.Hooks, AllowData: opts.AllowData, KeepExports: opts.KeepExports, MaxObjects: opts.MaxObjects, MaxScan: opts.MaxScan,
		SignKey: key, ModuleSignKey: opts.ModSignKey, ModuleSignCert: opts.ModSignCert,
		Tool: "ksplice " + Version, Log: s.ErrOut,
	})
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(s.Out, res)
	}
	printCreate(s.Out, res)
	return nil
}

func printCreate(w io.Writer, r *create.Result) {
	m := r.Manifest
	fmt.Fprintf(w, "update %s: %s\n", m.ID, m.Description)
	fmt.Fprintf(w, "kernel %s (%s)\n", m.Kernel.Release, m.Kernel.Machine)
	for _, t := range m.Targets {
		fmt.Fprintf(w, "target %s (%s)\n", t.Name, t.Module)
		for _, f := range t.Functions {
			if f.Status == "changed" {
				fmt.Fprintf(w, "  replace %-32s %s  %d -> %d bytes%s\n", f.Name, f.Object, f.OldSize, f.NewSize, methodNote(f))
			} else {
				fmt.Fprintf(w, "  add     %-32s %s  %d bytes\n", f.Name, f.Object, f.NewSize)
			}
		}
	}
	if r.SignedBy != "" {
		fmt.Fprintf(w, "signed by key %s\n", r.SignedBy)
	}
	if r.ModulesSignedBy != "" {
		fmt.Fprintf(w, "modules signed for the kernel by %s\n", r.ModulesSignedBy)
	}
	fmt.Fprintf(w, "wrote %s in %.1fs\n", r.Output, float64(r.Millis)/1000)
}
