package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/sergi/go-diff/diffmatchpatch"
	"github.com/spf13/cobra"

	"github.com/ksplice-go/ksplice/internal/elfdiff"
	"github.com/ksplice-go/ksplice/internal/sign"
	"github.com/ksplice-go/ksplice/internal/update"
)

type inspectOptions struct {
	JSON    bool
	Explain bool
	File    string
}

func newInspectCmd(s Streams) *cobra.Command {
	opts := &inspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect [--json] [--explain] UPDATE.tar",
		Short: "Show what an update carries, and why",
		Long: `Verify an update tarball and print its manifest: the kernel it is for, the
functions it replaces or adds, the files it holds.

--explain diffs the pre- and post-patch objects the update carries again and
shows, for each function, why it is in the update, with a disassembly diff
of its old and new code (relocation targets shown symbolically).`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			return runInspect(opts, s)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print as JSON")
	cmd.Flags().BoolVar(&opts.Explain, "explain", false, "explain each function and diff its disassembly")
	return cmd
}

func runInspect(opts *inspectOptions, s Streams) error {
	u, err := update.ReadFile(opts.File)
	if err != nil {
		return err
	}
	m := u.Manifest
	var diffs map[string]*elfdiff.Result
	if opts.Explain {
		if diffs, err = rediff(u); err != nil {
			return err
		}
	}
	// Who signed it, as the signature claims; apply checks it against
	// the trusted keys.
	signer, serr := sign.SignatureKeyID(u.Signature)
	if opts.JSON {
		return writeJSON(s.Out, struct {
			Manifest update.Manifest            `json:"manifest"`
			SignedBy string                     `json:"signed_by,omitempty"`
			Explain  map[string]*elfdiff.Result `json:"explain,omitempty"`
		}{m, signer, diffs})
	}
	w := s.Out
	fmt.Fprintf(w, "update %s: %s\n", m.ID, m.Description)
	fmt.Fprintf(w, "created %s by %s, format %d\n", m.Created.Format("2006-01-02 15:04:05 MST"), m.Tool, m.Format)
	fmt.Fprintf(w, "kernel %s (%s), vermagic %q\n", m.Kernel.Release, m.Kernel.Machine, m.Kernel.Vermagic)
	switch {
	case serr == nil:
		fmt.Fprintf(w, "signed by key %s (not verified here: apply verifies it against the trusted keys)\n", signer)
	case errors.Is(serr, sign.ErrUnsigned):
		fmt.Fprintln(w, "not signed")
	default:
		fmt.Fprintf(w, "signature: %v\n", serr)
	}
	for _, t := range m.Targets {
		fmt.Fprintf(w, "target %s: module %s\n", t.Name, t.Module)
		for _, f := range t.Functions {
			if f.Status == "changed" {
				fmt.Fprintf(w, "  replace %s (%s) %d -> %d bytes%s\n", elfdiff.Display(f.Name), f.Object, f.OldSize, f.NewSize, methodNote(f))
			} else {
				fmt.Fprintf(w, "  add     %s (%s) %d bytes\n", elfdiff.Display(f.Name), f.Object, f.NewSize)
			}
		}
	}
	if m.Hooks != "" {
		fmt.Fprintf(w, "hooks: %s, run by the engine around apply and undo (%d bytes of C)\n", m.Hooks, len(u.Files[m.Hooks]))
	}
	fmt.Fprintln(w, "files:")
	names := make([]string, 0, len(m.Files))
	for n := range m.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-60s %8d  sha256:%s\n", n, len(u.Files[n]), m.Files[n][:16])
	}
	if opts.Explain {
		objs := make([]string, 0, len(diffs))
		for o := range diffs {
			objs = append(objs, o)
		}
		sort.Strings(objs)
		for _, o := range objs {
			explain(w, o, diffs[o])
		}
	}
	return nil
}

// rediff diffs the objects the update carries again.
func rediff(u *update.Update) (map[string]*elfdiff.Result, error) {
	out := map[string]*elfdiff.Result{}
	for _, t := range u.Manifest.Targets {
		for _, o := range t.Objects {
			pre, err := elfdiff.NewFile(bytes.NewReader(u.Files["objects/pre/"+o]))
			if err != nil {
				return nil, fmt.Errorf("%s (pre): %w", o, err)
			}
			post, err := elfdiff.NewFile(bytes.NewReader(u.Files["objects/post/"+o]))
			if err != nil {
				return nil, fmt.Errorf("%s (post): %w", o, err)
			}
			d, err := elfdiff.Diff(pre, post)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", o, err)
			}
			out[o] = d
		}
	}
	return out, nil
}

func explain(w io.Writer, obj string, d *elfdiff.Result) {
	fmt.Fprintf(w, "\n%s:\n", obj)
	for _, fd := range d.Functions {
		if fd.Status == elfdiff.StatusUnchanged {
			continue
		}
		mark := " "
		if fd.Carry {
			mark = "*"
		}
		fmt.Fprintf(w, "%s %s %s: %s\n", mark, fd.Status, elfdiff.Display(fd.Name), strings.Join(fd.Reasons, "; "))
		if !fd.Carry {
			continue
		}
		var old, new []string
		if fd.Pre != nil {
			old = listing(d.Pre, fd.Pre)
		}
		if fd.Post != nil {
			new = listing(d.Post, fd.Post)
		}
		dmp := diffmatchpatch.New()
		a, b, lines := dmp.DiffLinesToChars(strings.Join(old, "\n")+"\n", strings.Join(new, "\n")+"\n")
		for _, df := range dmp.DiffCharsToLines(dmp.DiffMain(a, b, false), lines) {
			prefix := "    "
			switch df.Type {
			case diffmatchpatch.DiffDelete:
				prefix = "  - "
			case diffmatchpatch.DiffInsert:
				prefix = "  + "
			}
			for _, l := range strings.Split(strings.TrimSuffix(df.Text, "\n"), "\n") {
				fmt.Fprintln(w, prefix+l)
			}
		}
	}
	for _, r := range d.Refusals {
		fmt.Fprintf(w, "! refused %s: %s\n", elfdiff.Display(r.Symbol), r.Reason)
	}
}

// listing disassembles a function, without offsets (so that moved code
// still lines up in a diff) and with each relocation's target.
func listing(f *elfdiff.File, fn *elfdiff.Function) []string {
	lines := f.Arch.Disassemble(fn.Code)
	insns := f.Arch.Decode(fn.Code)
	for i, in := range insns {
		_, text, _ := strings.Cut(lines[i], ": ")
		for _, r := range fn.Relocs {
			if int(r.Offset) < in.Off || int(r.Offset) >= in.Off+in.Len {
				continue
			}
			// A relocated branch's displayed target is only where the
			// unrelocated bytes point: show the symbol instead.
			if op, _, _ := strings.Cut(text, " "); strings.HasPrefix(op, "call") || strings.HasPrefix(op, "jmp") || op == "bl" || op == "b" {
				text = op + " " + target(r)
			} else {
				text += "  # " + target(r)
			}
		}
		lines[i] = text
	}
	return lines
}

func target(r elfdiff.Reloc) string {
	t := r.Target
	switch {
	case t.IsString:
		return fmt.Sprintf("%q", t.String)
	case t.Sym == nil:
		return "?"
	case t.Off == 0:
		return elfdiff.Display(t.Sym.Name)
	default:
		return fmt.Sprintf("%s%+#x", elfdiff.Display(t.Sym.Name), t.Off)
	}
}
