package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ksplice-go/ksplice/internal/repo"
)

type publishOptions struct {
	Sign          string
	KeepPublished bool
	JSON          bool
	Dir           string
	Tarballs      []string
}

func newPublishCmd(s Streams) *cobra.Command {
	opts := &publishOptions{}
	cmd := &cobra.Command{
		Use:   "publish [--sign KEY] [--json] DIR [UPDATE.tar...]",
		Short: "Add updates to a repository that ksplice upgrade fetches from",
		Long: `Add update tarballs to the repository in DIR (created if missing), which any
HTTP server or object store can serve as it is.

Each tarball is verified and copied to DIR/updates/RELEASE/ID.tar, and the
index, DIR/index.json, lists it under its kernel release after the updates
already there: upgrade applies them in that order. An update already
published with the same contents is left alone; one with the same id and
release but other contents is refused (exit 3) and nothing is written,
unless --keep-published: then the published one is kept (a pipeline that
builds the same patch again: tarballs are not reproducible byte for byte).
Every file is written under a temporary name and renamed into place, the
index last, so a client never sees half a publish.

--sign KEY signs the index with a minisign private key (ksplice keygen; an
encrypted key's password comes from $KSPLICE_KEY_PASSWORD); the index
already in DIR must verify against the same key first. Without --sign the
index is unsigned, and upgrade refuses it unless --allow-unsigned.
Publishing no tarball writes the index again (with --sign: signs it again,
for a new key).

Exit codes: 0 published (or already there), 1 error, 3 refused (a
conflicting id, a tarball that does not verify, an index that does not).`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir, opts.Tarballs = args[0], args[1:]
			return runPublish(opts, s)
		},
	}
	cmd.Flags().StringVar(&opts.Sign, "sign", "", "sign the index with this minisign private key")
	cmd.Flags().BoolVar(&opts.KeepPublished, "keep-published", false, "keep an update already published under the same id and release, instead of refusing a different tarball of it")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	return cmd
}

func runPublish(opts *publishOptions, s Streams) error {
	po := repo.PublishOptions{Tool: "ksplice " + Version, KeepPublished: opts.KeepPublished}
	var keyID string
	if opts.Sign != "" {
		var err error
		if po.Sign, po.Verify, keyID, err = indexSigner(opts.Sign); err != nil {
			return err
		}
	}
	res, err := repo.Publish(opts.Dir, opts.Tarballs, po)
	if err != nil {
		return err
	}
	if opts.JSON {
		return writeJSON(s.Out, struct {
			Repo string `json:"repo"`
			*repo.PublishResult
			KeyID string `json:"key_id,omitempty"`
		}{opts.Dir, res, keyID})
	}
	for _, u := range res.Updates {
		if u.Kept {
			fmt.Fprintf(s.Out, "%s for %s: already published (another build of it; the published one is kept)\n", u.ID, u.Release)
		} else if u.Already {
			fmt.Fprintf(s.Out, "%s for %s: already published\n", u.ID, u.Release)
		} else {
			fmt.Fprintf(s.Out, "published %s for %s: %s\n", u.ID, u.Release, u.Description)
		}
	}
	switch {
	case !res.Wrote:
		fmt.Fprintf(s.Out, "%s: nothing new, index unchanged\n", opts.Dir)
	case res.Signed:
		fmt.Fprintf(s.Out, "%s: index signed with key %s\n", opts.Dir, keyID)
	default:
		fmt.Fprintf(s.Out, "%s: index written UNSIGNED (upgrade refuses it without --allow-unsigned)\n", opts.Dir)
	}
	return nil
}
