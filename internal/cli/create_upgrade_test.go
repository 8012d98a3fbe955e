package cli

import (
	"testing"

	"github.com/ksplice-go/ksplice/internal/apply"
	"github.com/ksplice-go/ksplice/internal/update"
)

func TestEffectiveRelease(t *testing.T) {
	part := &apply.Record{ID: "a", Seq: 1, Kernel: "6.1.0-53-amd64", Upgrade: &update.Upgrade{To: "6.1.190-1", Release: "6.1.0-54-amd64", Files: []string{"x.c"}}}
	cum := &apply.Record{ID: "b", Seq: 2, Kernel: "6.1.0-53-amd64", Upgrade: &update.Upgrade{To: "6.1.190-1", Release: "6.1.0-54-amd64", Cumulative: true}}
	later := &apply.Record{ID: "c", Seq: 3, Kernel: "6.1.0-53-amd64", Upgrade: &update.Upgrade{To: "6.1.192-1", Release: "6.1.0-55-amd64", Cumulative: true}}
	stale := &apply.Record{ID: "d", Seq: 4, Kernel: "6.1.0-53-amd64", Disagreement: "recorded but not applied", Upgrade: &update.Upgrade{To: "6.1.199-1", Release: "6.1.0-59-amd64", Cumulative: true}}
	kept := &apply.Record{ID: "e", Seq: 5, Kernel: "6.1.0-53-amd64", Stage: apply.StageKept, Kept: []string{"vmlinux"}, Upgrade: &update.Upgrade{To: "6.1.199-1", Release: "6.1.0-59-amd64", Cumulative: true}}
	for _, c := range []struct {
		recs []*apply.Record
		want string
	}{
		{nil, "6.1.0-53-amd64"},
		// Undone, its module kept loaded: the release is no longer in effect.
		{[]*apply.Record{kept}, "6.1.0-53-amd64"},
		{[]*apply.Record{kept, cum}, "6.1.0-54-amd64"},
		{[]*apply.Record{part}, "6.1.0-53-amd64"},
		{[]*apply.Record{part, cum}, "6.1.0-54-amd64"},
		{[]*apply.Record{later, cum}, "6.1.0-55-amd64"},
		{[]*apply.Record{stale, cum}, "6.1.0-54-amd64"},
	} {
		if got := effectiveRelease("6.1.0-53-amd64", c.recs); got != c.want {
			t.Errorf("%d records: %s, want %s", len(c.recs), got, c.want)
		}
	}
}

func TestUpgradeOf(t *testing.T) {
	for _, c := range []struct {
		u    *update.Upgrade
		want string
	}{
		{nil, "-"},
		{&update.Upgrade{To: "6.1.190-1", Cumulative: true, Carried: 41, Needed: 47}, "6.1.190-1: 41 of 47 changed files"},
		{&update.Upgrade{To: "6.1.190-1", Files: []string{"fs/ext4/mballoc.c"}}, "6.1.190-1: 1 changed file"},
		{&update.Upgrade{To: "6.1.190-1", Files: []string{"a.c", "b.c"}}, "6.1.190-1: 2 changed files"},
	} {
		if got := upgradeOf(c.u); got != c.want {
			t.Errorf("upgradeOf(%+v) = %q, want %q", c.u, got, c.want)
		}
	}
}
