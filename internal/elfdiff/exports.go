package elfdiff

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// exportTableSection is where EXPORT_SYMBOL puts its entries since Linux
// 6.5 (Debian's 6.12): one section for all the exports of an object, each
// entry labelled by a local __export_symbol_NAME and holding the license
// ("" or "GPL") and the namespace as strings, then, 8-aligned, the address
// of the exported symbol. modpost turns them into the kernel's export
// table at link time. Before 6.5 each export had its own ___ksymtab+NAME
// section (exportSection).
const exportTableSection = ".export_symbol"

// exportEntry is what one EXPORT_SYMBOL says: "GPL ns=NS -> sym".
type exportEntry struct {
	license, namespace, target string
}

func (e exportEntry) String() string {
	s := "EXPORT_SYMBOL"
	if e.license == "GPL" {
		s += "_GPL"
	}
	if e.namespace != "" {
		s += "_NS"
	}
	return s
}

// exportTable reads the entries of the .export_symbol sections secs of f,
// by exported name. ok is false when an entry cannot be read, so that the
// caller compares the sections byte by byte instead.
func exportTable(f *File, secs []*Section) (map[string]exportEntry, bool) {
	out := map[string]exportEntry{}
	for _, sec := range secs {
		var labels []*Symbol
		for _, s := range f.Symbols {
			if s != nil && s.Section == sec && strings.HasPrefix(s.Name, "__export_symbol_") {
				labels = append(labels, s)
			}
		}
		sort.Slice(labels, func(i, j int) bool { return labels[i].Value < labels[j].Value })
		covered := uint64(0)
		for i, l := range labels {
			end := sec.Size
			if i+1 < len(labels) {
				end = labels[i+1].Value
			}
			if l.Value > end || end > uint64(len(sec.Data)) {
				return nil, false
			}
			data := sec.Data[l.Value:end]
			lic, rest, ok1 := bytes.Cut(data, []byte{0})
			ns, _, ok2 := bytes.Cut(rest, []byte{0})
			var target string
			n := 0
			for _, r := range sec.Relocs {
				if r.Offset >= l.Value && r.Offset < end && r.Sym != nil {
					target, n = r.Sym.Name, n+1
				}
			}
			if !ok1 || !ok2 || n != 1 {
				return nil, false
			}
			covered += end - l.Value
			out[strings.TrimPrefix(l.Name, "__export_symbol_")] = exportEntry{string(lic), string(ns), target}
		}
		if covered != sec.Size {
			return nil, false
		}
	}
	return out, true
}

// refuseChangedExportTable compares the .export_symbol sections of pre and
// post export by export (they differ by offset whenever an export before
// another moves) and refuses each export the patch adds, removes or
// changes: the running kernel's table of exports cannot change. It
// returns false when the sections cannot be read as export tables.
func (d *differ) refuseChangedExportTable(a, b []*Section) bool {
	ta, okA := exportTable(d.pre, a)
	tb, okB := exportTable(d.post, b)
	if !okA || !okB {
		return false
	}
	names := make([]string, 0, len(ta)+len(tb))
	for n := range ta {
		names = append(names, n)
	}
	for n := range tb {
		if _, ok := ta[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		ea, inA := ta[n]
		eb, inB := tb[n]
		var what string
		switch {
		case !inA:
			what = fmt.Sprintf("adds %s(%s)", eb, n)
		case !inB:
			what = fmt.Sprintf("removes %s(%s)", ea, n)
		case ea != eb:
			what = fmt.Sprintf("changes %s(%s) to %s", ea, n, eb)
			if ea.namespace != eb.namespace {
				what += fmt.Sprintf(" (namespace %q -> %q)", ea.namespace, eb.namespace)
			}
		default:
			continue
		}
		d.refusal(n, exportTableSection, RuleExportChanged, "the patch %s: the running kernel's table of exports cannot change; "+
			"leave the export as it is (modules built later can use an update's function only through an export that exists)", what)
	}
	return true
}
