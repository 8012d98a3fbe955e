package upgrade

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHTMLInBrowser renders the report page of a synthetic run in a real
// headless browser (chromium-headless-shell, which make deps installs; the
// test fails without it) and checks that what the browser shows equals
// report.json: each category's count, the number of file rows of each
// category, and the built-in fraction.
func TestHTMLInBrowser(t *testing.T) {
	browser, err := exec.LookPath("chromium-headless-shell")
	if err != nil {
		if browser, err = exec.LookPath("chromium"); err != nil {
			t.Fatal("no chromium-headless-shell or chromium: make deps installs it")
		}
	}
	opts, _ := synthetic(t)
	if _, err := Run(context.Background(), opts); err != nil {
		t.Fatal(err)
	}
	// The numbers come from the JSON file, not from the report in memory:
	// the page must agree with what CI reads.
	r, err := ReadReport(filepath.Join(opts.Output, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	dom := dumpDOM(t, browser, filepath.Join(opts.Output, "report.html"))
	if !strings.Contains(dom, "<title>ksplice upgrade debian:6.1.0-53-amd64: 6.1.187-1 → 6.1.190-1</title>") {
		t.Errorf("no title in the rendered page:\n%.2000s", dom)
	}
	byID := func(id string) int {
		t.Helper()
		m := regexp.MustCompile(`id="` + regexp.QuoteMeta(id) + `">(\d+)<`).FindStringSubmatch(dom)
		if m == nil {
			t.Fatalf("no #%s in the rendered page", id)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	rows := map[string]int{}
	for _, m := range regexp.MustCompile(`<tr class="[^"]*" data-category="([a-z-]+)"`).FindAllStringSubmatch(dom, -1) {
		rows[m[1]]++
	}
	total := 0
	for _, c := range Categories {
		if got, want := byID("count-"+string(c)), r.Summary.ByCategory[c]; got != want {
			t.Errorf("page says %d %s, JSON %d", got, c, want)
		}
		if rows[string(c)] != r.Summary.ByCategory[c] {
			t.Errorf("page has %d %s rows, JSON %d", rows[string(c)], c, r.Summary.ByCategory[c])
		}
		total += rows[string(c)]
	}
	if got := byID("count-files"); got != len(r.Files) || total != len(r.Files) {
		t.Errorf("page: %d files, %d rows; JSON %d files", got, total, len(r.Files))
	}
	if byID("fraction-carried") != r.Summary.CarriedBuiltIn || byID("fraction-needing") != r.Summary.NeedingBuiltIn {
		t.Errorf("fraction on the page differs from the JSON's %s", r.Summary.Fraction())
	}
	if byID("updates-carried") != r.Summary.UpdatesCarried || byID("cves") != r.Summary.CVEs {
		t.Errorf("updates or CVEs on the page differ from the JSON's")
	}
	if r.Summary.ByCategory[Carried] == 0 || r.Summary.ByCategory[Refused] == 0 {
		t.Errorf("the synthetic report should have carried and refused files: %v", r.Summary.ByCategory)
	}
}

// dumpDOM loads a local page in the headless browser and returns the DOM
// it built, with no network.
func dumpDOM(t *testing.T, browser, page string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	profile := t.TempDir()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu",
		"--user-data-dir="+profile, "--dump-dom", "file://"+page)
	cmd.Env = append(os.Environ(), "HOME="+profile)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", browser, err, stderr.String())
	}
	if !strings.Contains(string(out), "</html>") {
		t.Fatalf("%s printed no page:\n%s\n%s", browser, out, stderr.String())
	}
	return string(out)
}
