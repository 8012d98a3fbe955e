package create

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ksplice-go/ksplice/internal/srcpatch"
)

// TestMissingSymbol: a symbol the engine would look up by name is missing
// from the running kernel when only a line the patch adds to a header
// names it and the pristine source nowhere does, or when the patch takes
// a header's inline function out of line; a static the release makes
// global, or a name made by pasting, is not taken for missing.
func TestMissingSymbol(t *testing.T) {
	src := t.TempDir()
	for name, text := range map[string]string{
		"include/net/sch_generic.h": "struct Qdisc;\nvoid qdisc_put(struct Qdisc *q);\n",
		"include/net/icsk.h":        "static inline void icsk_destroy(struct sock *sk)\n{\n\tsock_set_flag(sk, SOCK_DEAD);\n}\nstatic inline int icsk_kept(void)\n{\n\treturn 1;\n}\nstatic __always_inline void\nicsk_split(void)\n{\n}\n",
		"include/net/other.h":       "struct sock;\n",
		"net/ipv4/tcp.c":            "void f(struct sock *sk) { icsk_destroy(sk); }\n",
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
--- a/include/net/icsk.h
+++ b/include/net/icsk.h
@@ -1,12 +1,5 @@
-static inline void icsk_destroy(struct sock *sk)
-{
-	sock_set_flag(sk, SOCK_DEAD);
-}
-static inline int icsk_kept(void)
+void icsk_destroy(struct sock *sk);
+static inline int icsk_kept(void)
 {
 	return 1;
 }
-static __always_inline void
-icsk_split(void)
-{
-}
--- a/include/net/other.h
+++ b/include/net/other.h
@@ -1 +1,2 @@
 struct sock;
+void icsk_split(void);
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
		// Taken out of line: named before (its callers too), as an
		// inline; the running kernel has no global of it.
		{[]string{"qdisc_put", "icsk_destroy"}, "icsk_destroy", "include/net/icsk.h"},
		// Still inline after: the engine does not look it up.
		{[]string{"icsk_kept"}, "", ""},
		// Its definition on two lines, its prototype in another header.
		{[]string{"icsk_split"}, "icsk_split", "include/net/other.h"},
	} {
		name, h, err := missingSymbol(ctx, src, p, c.names)
		if err != nil || name != c.want || h != c.hdr {
			t.Errorf("missingSymbol(%v) = %q, %q, %v; want %q, %q", c.names, name, h, err, c.want, c.hdr)
		}
	}
}
