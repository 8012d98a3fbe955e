package cli

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

type showOptions struct {
	repoOptions
	Available bool
}

func newShowCmd(s Streams) *cobra.Command {
	opts := &showOptions{}
	cmd := &cobra.Command{
		Use:   "show --available [--repo URL|DIR] [--json]",
		Short: "Show what a repository has for the running kernel, and what of it is applied",
		Long: `With --available: fetch and verify the repository's index, as upgrade does,
and list the updates it has for the running kernel (uname -r) in the order
upgrade applies them, each "applied" or "available". Nothing is downloaded
or applied. ksplice list shows everything applied, from any source.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !opts.Available {
				return &usageError{fmt.Errorf("show: only --available is supported (ksplice list shows what is applied)")}
			}
			return runShowAvailable(cmd.Context(), opts, s)
		},
	}
	opts.addFlags(cmd)
	cmd.Flags().BoolVar(&opts.Available, "available", false, "list the repository's updates for the running kernel")
	return cmd
}

type availableUpdate struct {
	ID          string `json:"id"`
	Description string `json:"description"`
	// State is "applied" or "available".
	State   string `json:"state"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	Machine string `json:"machine"`
}

func runShowAvailable(ctx context.Context, opts *showOptions, s Streams) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	av, err := opts.fetch(ctx, s.ErrOut)
	if err != nil {
		return err
	}
	ups := []availableUpdate{}
	for _, e := range av.Entries {
		st := "available"
		if av.Applied[e.ID] {
			st = "applied"
		}
		ups = append(ups, availableUpdate{ID: e.ID, Description: e.Description, State: st, SHA256: e.SHA256, Size: e.Size, Machine: e.Machine})
	}
	if opts.JSON {
		return writeJSON(s.Out, struct {
			Repo    string            `json:"repo"`
			Release string            `json:"release"`
			KeyID   string            `json:"key_id,omitempty"`
			Signed  bool              `json:"signed"`
			Updates []availableUpdate `json:"updates"`
		}{av.Repo, av.Release, av.Index.KeyID, av.Index.Signed, ups})
	}
	signed := "index NOT verified (--allow-unsigned)"
	if av.Index.KeyID != "" {
		signed = "index signed by key " + av.Index.KeyID
	}
	fmt.Fprintf(s.Out, "repository %s (%s)\n", av.Repo, signed)
	if len(ups) == 0 {
		fmt.Fprintf(s.Out, "no updates for %s\n", av.Release)
		return nil
	}
	tw := tabwriter.NewWriter(s.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\tSTATE\tDESCRIPTION\n")
	for _, u := range ups {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", u.ID, u.State, u.Description)
	}
	return tw.Flush()
}
