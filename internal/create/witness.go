package create

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/tudiff"
)

// witnessTries is how many of a header's includers are preprocessed,
// both ways, to find one whose unit reads the header's change.
const witnessTries = 3

// witness returns the witnessFunc of byName for the trees before (pre)
// and after (post) the patch: it preprocesses an includer of the header
// in both, as the scan does, and reads the header's declarations in the
// two units (tudiff.ChangesIn), its changed types laid out by probes.
func witness(ctx context.Context, pre, post kbuild.Tree, probes *layoutProbes) witnessFunc {
	return func(h string, objs []string) (tudiff.Changes, string, error) {
		// Objects of arch/ subdirectories preprocess one at a time
		// (kbuild.Tree.Preprocess); any includer reads the header.
		objs = slices.Clone(objs)
		slices.SortStableFunc(objs, func(a, b string) int {
			return cmpBool(strings.HasPrefix(a, "arch/"), strings.HasPrefix(b, "arch/"))
		})
		objs = objs[:min(len(objs), witnessTries)]
		preI, _ := pre.Preprocess(ctx, objs, scanFlags)
		postI, _ := post.Preprocess(ctx, objs, scanFlags)
		defer removeUnits(preI, postI)
		if err := ctx.Err(); err != nil {
			return tudiff.Changes{}, "", err
		}
		for _, o := range objs {
			if preI[o] == "" || postI[o] == "" {
				continue
			}
			ch, err := readWitness(pre, post, h, preI[o], postI[o], probes)
			return ch, o, err
		}
		return tudiff.Changes{Why: "no includer tried preprocesses before and after the patch"}, strings.Join(objs, ", "), nil
	}
}

// readWitness reads the change of header h between the units at preI and
// postI, preprocessed in pre and post.
func readWitness(pre, post kbuild.Tree, h, preI, postI string, probes *layoutProbes) (tudiff.Changes, error) {
	var units [2]*tudiff.Unit
	for i, path := range []string{preI, postI} {
		b, err := os.ReadFile(path)
		if err != nil {
			return tudiff.Changes{}, err
		}
		if units[i], err = tudiff.Parse(b); err != nil {
			return tudiff.Changes{}, fmt.Errorf("%s: %w", path, err)
		}
	}
	// Line markers name a file of the source tree by its absolute
	// path, one of the build tree (generated headers) relative to it.
	in := func(file string) bool {
		for _, t := range []kbuild.Tree{pre, post} {
			f := file
			if !filepath.IsAbs(f) {
				f = filepath.Join(t.Build, f)
			}
			if rel, err := filepath.Rel(t.Source, f); err == nil && rel == h {
				return true
			}
		}
		return false
	}
	return tudiff.ChangesIn(units[0], units[1], in, tudiff.Options{Layout: func(agg string) (tudiff.Layout, error) {
		l, _, err := probes.compare(agg, units[0], units[1], preI, postI)
		return l, err
	}})
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
