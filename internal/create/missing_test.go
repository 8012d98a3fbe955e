package create

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// TestMissingSymbol: a symbol the engine would look up by name is missing
// from the running kernel when only a line the patch adds to a header
// names it and the pristine source nowhere does; a static the release
// makes global, or a name made by pasting, is not taken for missing.
func TestMissingSymbol(t *testing.T) {
	src := t.TempDir()
	for name, text := range map[string]string{
		"include/net/sch_generic.h": "struct Qdisc;\nvoid qdisc_put(struct Qdisc *q);\n",
		"net/sched/sch_generic.c":   "static void made_global(void) { }\nvoid qdisc_put(struct Qdisc *q) { }\n",
	} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	diff := `--- a/include/net/sch_generic.h
+++ b/include/net/sch_generic.h
@@ -1,2 +1,4 @@
 struct Qdisc;
 void qdisc_put(struct Qdisc *q);
+void qdisc_free_rcu(struct rcu_head *head);
+void made_global(void);
`
	p, err := srcpatch.Parse(strings.NewReader(diff))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		names     []string
		want, hdr string
	}{
		{[]string{"__tracepoint_foo", "qdisc_put", "made_global", "qdisc_free_rcu"}, "qdisc_free_rcu", "include/net/sch_generic.h"},
		{[]string{"made_global"}, "", ""},      // static before: the engine decides
		{[]string{"qdisc_put"}, "", ""},        // declared before
		{[]string{"__tracepoint_foo"}, "", ""}, // the patch does not name it
		{[]string{"qdisc_free"}, "", ""},       // a word, not a prefix
	} {
		name, h, err := missingSymbol(ctx, src, p, c.names)
		if err != nil || name != c.want || h != c.hdr {
			t.Errorf("missingSymbol(%v) = %q, %q, %v; want %q, %q", c.names, name, h, err, c.want, c.hdr)
		}
	}
}

// TestNotInSystemMap: a name the running kernel's System.map lacks is
// missing, static symbols count as present, and a kernel without one
// (built from a source tree) is not judged.
func TestNotInSystemMap(t *testing.T) {
	dir := t.TempDir()
	k := &kbuild.Kernel{Dir: dir, Release: "6.1.0-53-amd64"}
	if got := systemMap(k); got != "" {
		t.Errorf("systemMap without an image = %q", got)
	}
	boot := filepath.Join(dir, "image", "boot")
	if err := os.MkdirAll(boot, 0o755); err != nil {
		t.Fatal(err)
	}
	m := filepath.Join(boot, "System.map-6.1.0-53-amd64")
	if err := os.WriteFile(m, []byte("ffffffff81000000 T _stext\nffffffff81a2b3c0 t qdisc_free_rcu\nffffffff82000000 D init_net\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := systemMap(k); got != m {
		t.Fatalf("systemMap = %q, want %q", got, m)
	}
	for _, c := range []struct {
		names []string
		want  string
	}{
		{[]string{"qdisc_free_rcu", "init_net"}, ""},
		{[]string{"init_net", "inet_csk_prepare_for_destroy_sock", "also_new"}, "inet_csk_prepare_for_destroy_sock"},
		{nil, ""},
	} {
		got, err := notInSystemMap(m, c.names)
		if err != nil || got != c.want {
			t.Errorf("notInSystemMap(%v) = %q, %v; want %q", c.names, got, err, c.want)
		}
	}
	if got, err := notInSystemMap("", []string{"x"}); got != "" || err != nil {
		t.Errorf("no System.map: %q, %v", got, err)
	}
}
