package upgrade

import (
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
)

// The HTML report is one page with no external assets: styles inline, no
// scripts, so that it opens from a CI artefact or a mail as it is. Each
// summary number has an id (count-CATEGORY, fraction-carried,
// fraction-needing) and each file row a data-category, so that a test can
// check the page against the JSON.
var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct": func(a, b int) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f%%", 100*float64(a)/float64(b))
	},
	"join": strings.Join,
	"base": func(p string) string {
		if i := strings.LastIndex(p, "/"); i >= 0 {
			return p[i+1:]
		}
		return p
	},
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ksplice upgrade {{.Kernel}}: {{.From}} &rarr; {{.To}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; vertical-align: top; text-align: left; }
th { background: #f0f0f0; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.carried td.cat { background: #d7f5d7; }
tr.refused td.cat { background: #f8d4d4; }
tr.init-only td.cat { background: #fdf1c7; }
tr.not-built td.cat, tr.build-only td.cat { color: #777; }
.unsure { color: #888; font-style: italic; }
code { font-size: 0.9em; }
table#files { width: 100%; }
table#files td { word-break: break-word; font-size: 0.9em; }
table#files td:first-child { min-width: 18em; }
table#files td:last-child { min-width: 22em; }
details { margin: 0.3em 0; }
</style>
</head>
<body>
<h1>{{.Package}} {{.From}} &rarr; {{.To}} on <code>{{.Kernel}}</code> ({{.Release}})</h1>
<p>Made by {{.Tool}} on {{.Created.Format "2006-01-02 15:04 UTC"}} in {{printf "%.0f" .Seconds}} s.</p>
<table id="summary">
<tr><th>category</th><th>files</th></tr>
{{range $c := .Categories}}<tr><td>{{$c}}</td><td class="n" id="count-{{$c}}">{{index $.Summary.ByCategory $c}}</td></tr>
{{end}}<tr><th>all changed files</th><th class="n" id="count-files">{{.Summary.Files}}</th></tr>
</table>
<p>Fixes to built-in C code carried with no hand-written code:
<b><span id="fraction-carried">{{.Summary.CarriedBuiltIn}}</span> of <span id="fraction-needing">{{.Summary.NeedingBuiltIn}}</span></b>
({{pct .Summary.CarriedBuiltIn .Summary.NeedingBuiltIn}}; the original Ksplice: 56 of 64, 88%).
Updates carried: <span id="updates-carried">{{.Summary.UpdatesCarried}}</span> of <span id="updates">{{.Summary.Updates}}</span>.
CVEs named by the changelog for files that need an update: <span id="cves">{{.Summary.CVEs}}</span>,
<span id="cves-carried">{{.Summary.CVEsCarried}}</span> carried whole, {{.Summary.CVEsPartly}} in part.</p>
{{with .Cumulative}}<p>Cumulative update: <code>{{base .Output}}</code>, {{.Category}}, {{len .Group.Files}} files{{if .Rule}} ({{.Rule}}){{end}}.</p>{{end}}
{{range .Notes}}<p class="unsure">Note: {{.}}</p>{{end}}
<table id="files">
<tr><th>file</th><th>category</th><th>target</th><th>update</th><th>functions / rule</th><th>changelog</th></tr>
{{range .Sorted}}<tr class="{{.Category}}" data-category="{{.Category}}">
<td><code>{{.Path}}</code>{{if ne .Status "modified"}} ({{.Status}}){{end}}</td>
<td class="cat">{{.Category}}</td>
<td>{{.Target}}</td>
<td>{{.Update}}</td>
<td>{{if .Functions}}{{join .Functions ", "}}{{else}}{{if .Rule}}<b>{{.Rule}}</b>: {{end}}{{.Reason}}{{if .Hint}}<br><i>{{.Hint}}</i>{{end}}{{end}}</td>
<td>{{range .Changelog}}<div{{if not .Sure}} class="unsure" title="unsure: {{.Why}}"{{end}}>{{.Text}}</div>{{end}}</td>
</tr>
{{end}}</table>
</body>
</html>
`))

// HTML writes the report as a standalone page.
func (r *Report) HTML(w io.Writer) error {
	// Files that needed an update first: what a reader looks for.
	sorted := append([]FileReport{}, r.Files...)
	sort.SliceStable(sorted, func(i, j int) bool { return rank(sorted[i].Category) < rank(sorted[j].Category) })
	return pageTemplate.Execute(w, struct {
		*Report
		Categories []Category
		Sorted     []FileReport
	}{r, Categories, sorted})
}
