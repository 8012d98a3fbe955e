package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ksplice-go/ksplice/internal/apply"
	"github.com/ksplice-go/ksplice/internal/kmod"
	"github.com/ksplice-go/ksplice/internal/repo"
	"github.com/ksplice-go/ksplice/internal/sign"
	"github.com/ksplice-go/ksplice/internal/update"
)

// Defaults of the repository commands.
const (
	// DefaultRepoConfig names the repository upgrade uses without --repo:
	// its first line that is neither empty nor a '#' comment.
	DefaultRepoConfig = "/etc/ksplice/repo"
	// DefaultUpdateCache is where upgrade keeps the tarballs it fetched,
	// named by their sha256.
	DefaultUpdateCache = "/var/cache/ksplice/updates"
)

// repoOptions are what upgrade and show --available share: where the
// repository is, how it is trusted, what this machine runs and has applied.
type repoOptions struct {
	Repo          string
	RepoConfig    string
	KeysDir       string
	AllowUnsigned bool
	StateDir      string
	JSON          bool
	Timeout       time.Duration

	// Dependencies, replaced by tests: the running kernel, the ids of the
	// updates applied to it, and the HTTP client.
	uname   func() (release, machine string, err error)
	applied func(stateDir string) (map[string]bool, error)
	client  *http.Client
}

func (o *repoOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.Repo, "repo", "", "repository: an http(s) URL or a directory (default: the first line of --repo-config)")
	cmd.Flags().StringVar(&o.RepoConfig, "repo-config", DefaultRepoConfig, "file naming the repository")
	cmd.Flags().StringVar(&o.KeysDir, "keys", sign.DefaultTrustedDir, "directory of trusted public keys (*.pub, minisign format)")
	cmd.Flags().BoolVar(&o.AllowUnsigned, "allow-unsigned", false, "accept an index and updates that are unsigned or signed by an untrusted key (with a warning)")
	cmd.Flags().StringVar(&o.StateDir, "state-dir", apply.DefaultStateDir, "where applied updates are recorded")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the result as JSON")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 10*time.Minute, "give up fetching after this long")
}

func (o *repoOptions) defaults() {
	if o.uname == nil {
		o.uname = kmod.Uname
	}
	if o.applied == nil {
		o.applied = appliedIDs
	}
	if o.client == nil {
		o.client = &http.Client{}
	}
}

// appliedIDs returns the ids of the updates the kernel has applied, as
// ksplice list sees them: a record the kernel does not back (from before a
// reboot) does not count.
func appliedIDs(stateDir string) (map[string]bool, error) {
	recs, err := apply.List(apply.Options{StateDir: stateDir})
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, r := range recs {
		if r.Stage == "applied" && r.Disagreement == "" {
			ids[r.ID] = true
		}
	}
	return ids, nil
}

// location is --repo, else the first line of the repository config.
func (o *repoOptions) location() (string, error) {
	if o.Repo != "" {
		return o.Repo, nil
	}
	f, err := os.Open(o.RepoConfig)
	if errors.Is(err, os.ErrNotExist) {
		return "", &usageError{fmt.Errorf("no repository: pass --repo URL|DIR, or write it into %s", o.RepoConfig)}
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			return l, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("%s: %w", o.RepoConfig, err)
	}
	return "", &usageError{fmt.Errorf("no repository: %s names none; pass --repo URL|DIR", o.RepoConfig)}
}

// available is what the repository has for the running kernel, and which of
// it is applied.
type available struct {
	Repo    string
	Source  repo.Source
	Release string
	Machine string
	Index   *repo.Decoded
	Entries []repo.Entry
	Applied map[string]bool
}

func (o *repoOptions) fetch(ctx context.Context, warn io.Writer) (*available, error) {
	o.defaults()
	loc, err := o.location()
	if err != nil {
		return nil, err
	}
	release, machine, err := o.uname()
	if err != nil {
		return nil, err
	}
	src, err := repo.OpenSource(loc, o.client)
	if err != nil {
		return nil, &usageError{err}
	}
	verify, err := trustedVerifier(o.KeysDir, o.AllowUnsigned, warn)
	if err != nil {
		return nil, err
	}
	d, err := repo.FetchIndex(ctx, src, verify, o.AllowUnsigned)
	if err != nil {
		return nil, err
	}
	applied, err := o.applied(o.StateDir)
	if err != nil {
		return nil, err
	}
	return &available{Repo: src.String(), Source: src, Release: release, Machine: machine,
		Index: d, Entries: d.Index.Kernels[release], Applied: applied}, nil
}

type upgradeOptions struct {
	repoOptions
	DryRun   bool
	CacheDir string

	// applyFile applies one verified tarball the way ksplice apply does;
	// tests replace it.
	applyFile func(name string) (*apply.Record, error)
}

func newUpgradeCmd(s Streams) *cobra.Command {
	opts := &upgradeOptions{}
	cmd := &cobra.Command{
		Use:   "upgrade [--repo URL|DIR] [--dry-run] [--json]",
		Short: "Apply the updates a repository has for the running kernel",
		Long: `Fetch the repository's index, verify its signature against the trusted keys
(--keys), and apply, in the index's order, every update for the running
kernel (uname -r) that is not applied yet. Every missing update is
downloaded (to --cache-dir, named by its sha256) and checked against the
index before the first is applied, so a tampered or missing tarball applies
nothing. Each is then applied exactly as ksplice apply applies it. Running
upgrade again changes nothing and exits 0.

The repository is --repo, an http(s) URL or a directory, or the first line
of /etc/ksplice/repo. --dry-run verifies the index and says what would be
applied, changing nothing.

Exit codes: 0 done (or nothing to do), 1 error (network, disk; nothing is
applied unless the output says so), 2 usage (no repository), 3 refused
(the index or a tarball does not verify, or the kernel refused an update:
the updates before it stay applied, the output says which), 4 unsupported.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runUpgrade(cmd.Context(), opts, s)
		},
	}
	opts.addFlags(cmd)
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "say what would be applied, apply nothing")
	cmd.Flags().StringVar(&opts.CacheDir, "cache-dir", DefaultUpdateCache, "where fetched updates are kept")
	return cmd
}

// upgradeUpdate is one update of the repository in upgrade's report.
type upgradeUpdate struct {
	ID          string `json:"id"`
	Description string `json:"description"`
	// State: "already-applied", "applied" (by this run), "would-apply"
	// (--dry-run), "failed", "not-attempted" (after a failure).
	State string `json:"state"`
	Error string `json:"error,omitempty"`
}

type upgradeReport struct {
	Repo    string          `json:"repo"`
	Release string          `json:"release"`
	KeyID   string          `json:"key_id,omitempty"`
	Signed  bool            `json:"signed"`
	DryRun  bool            `json:"dry_run"`
	Changed bool            `json:"changed"`
	Updates []upgradeUpdate `json:"updates"`
	Error   string          `json:"error,omitempty"`
}

func runUpgrade(ctx context.Context, opts *upgradeOptions, s Streams) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	if opts.applyFile == nil {
		opts.applyFile = func(name string) (*apply.Record, error) {
			ao, err := (&applyOptions{StateDir: opts.StateDir, KeysDir: opts.KeysDir, AllowUnsigned: opts.AllowUnsigned}).applyOptions(s)
			if err != nil {
				return nil, err
			}
			rec, _, err := applyUpdateFile(name, ao)
			return rec, err
		}
	}
	av, err := opts.fetch(ctx, s.ErrOut)
	if err != nil {
		return err
	}
	rep := &upgradeReport{Repo: av.Repo, Release: av.Release, KeyID: av.Index.KeyID, Signed: av.Index.Signed,
		DryRun: opts.DryRun, Updates: []upgradeUpdate{}}
	var pending []int
	for _, e := range av.Entries {
		st := "already-applied"
		if !av.Applied[e.ID] {
			st = "would-apply"
			pending = append(pending, len(rep.Updates))
		}
		rep.Updates = append(rep.Updates, upgradeUpdate{ID: e.ID, Description: e.Description, State: st})
	}

	var runErr error
	if !opts.DryRun && len(pending) > 0 {
		runErr = upgradeApply(ctx, opts, av, rep, pending)
	}
	if runErr != nil {
		rep.Error = runErr.Error()
	}
	if opts.JSON {
		if err := writeJSON(s.Out, rep); err != nil {
			return err
		}
	} else {
		printUpgrade(s.Out, rep)
	}
	return runErr
}

// upgradeApply downloads and checks every pending update, then applies them
// in order, stopping at the first failure.
func upgradeApply(ctx context.Context, opts *upgradeOptions, av *available, rep *upgradeReport, pending []int) error {
	files := map[int]string{}
	fail := func(from int, err error) error {
		for _, j := range pending[from:] {
			rep.Updates[j].State = "not-attempted"
		}
		rep.Updates[pending[from]].State = "failed"
		rep.Updates[pending[from]].Error = err.Error()
		return err
	}
	for n, i := range pending {
		e := av.Entries[i]
		if e.Machine != av.Machine {
			return fail(n, fmt.Errorf("%w: the repository lists %s for %s on %s; this machine is %s", apply.ErrWrongKernel, e.ID, e.Release, e.Machine, av.Machine))
		}
		name, err := repo.Download(ctx, av.Source, e, opts.CacheDir)
		if err != nil {
			return fail(n, err)
		}
		// The tarball is the one the signed index names; its manifest must
		// say the same as the index, or the publisher signed a lie.
		u, err := update.ReadFile(name)
		if err != nil {
			return fail(n, fmt.Errorf("%s: %w", e.ID, err))
		}
		if m := u.Manifest; m.ID != e.ID || m.Kernel.Release != e.Release {
			return fail(n, fmt.Errorf("%w: the index lists %s for %s, its tarball is %s for %s",
				repo.ErrChecksum, e.ID, e.Release, m.ID, m.Kernel.Release))
		}
		files[i] = name
	}
	for n, i := range pending {
		if _, err := opts.applyFile(files[i]); err != nil && !errors.Is(err, apply.ErrAlreadyApplied) {
			return fail(n, err)
		}
		rep.Updates[i].State = "applied"
		rep.Changed = true
	}
	return nil
}

func printUpgrade(w io.Writer, rep *upgradeReport) {
	signed := "index NOT verified (--allow-unsigned)"
	if rep.KeyID != "" {
		signed = "index signed by key " + rep.KeyID
	}
	fmt.Fprintf(w, "repository %s (%s)\n", rep.Repo, signed)
	if len(rep.Updates) == 0 {
		fmt.Fprintf(w, "nothing to do: the repository has no updates for %s\n", rep.Release)
		return
	}
	counts := map[string]int{}
	for _, u := range rep.Updates {
		counts[u.State]++
		switch u.State {
		case "applied":
			fmt.Fprintf(w, "applied %s: %s\n", u.ID, u.Description)
		case "would-apply":
			fmt.Fprintf(w, "would apply %s: %s\n", u.ID, u.Description)
		case "failed":
			fmt.Fprintf(w, "failed %s: %s\n", u.ID, u.Description)
		case "not-attempted":
			fmt.Fprintf(w, "not attempted %s: %s\n", u.ID, u.Description)
		}
	}
	switch {
	case counts["already-applied"] == len(rep.Updates):
		fmt.Fprintf(w, "nothing to do: all %d updates for %s are applied\n", len(rep.Updates), rep.Release)
	case rep.DryRun:
		fmt.Fprintf(w, "dry run: %d of %d updates for %s would be applied\n", counts["would-apply"], len(rep.Updates), rep.Release)
	default:
		fmt.Fprintf(w, "%s: %d applied now, %d already applied, %d of %d in all\n", rep.Release,
			counts["applied"], counts["already-applied"], counts["applied"]+counts["already-applied"], len(rep.Updates))
	}
}
