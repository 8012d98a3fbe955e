package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ksplice-go/ksplice/internal/kbuild"
	"github.com/ksplice-go/ksplice/internal/run"
)

// moduleFiles returns the files that make the named modules of the image,
// with everything they depend on, loadable in the guest with modprobe: the
// .ko files under /lib/modules/RELEASE and a modules.dep listing just them.
// Debian's image package ships no modules.dep (depmod makes it at install
// time), so the lab makes it once with the host's depmod.
func moduleFiles(ctx context.Context, k *kbuild.Kernel, names []string) ([]File, error) {
	if len(names) == 0 {
		return nil, nil
	}
	dep := filepath.Join(k.Modules, "modules.dep")
	if _, err := os.Stat(dep); err != nil {
		if _, err := run.LookTool("depmod", "kmod"); err != nil {
			return nil, err
		}
		unlock, err := k.Lock(nil)
		if err != nil {
			return nil, err
		}
		defer unlock()
		if _, err := os.Stat(dep); err != nil {
			root := filepath.Dir(filepath.Dir(filepath.Dir(k.Modules))) // .../image
			if _, err := run.Command(ctx, "", "depmod", "-b", root, k.Release); err != nil {
				return nil, fmt.Errorf("depmod for the guest's modules: %w", err)
			}
		}
	}
	deps, byName, err := modulesByName(dep)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	var visit func(p string)
	visit = func(p string) {
		if want[p] {
			return
		}
		want[p] = true
		for _, d := range deps[p] {
			visit(d)
		}
	}
	for _, n := range names {
		p, ok := byName[strings.ReplaceAll(n, "-", "_")]
		if !ok {
			return nil, fmt.Errorf("--module %s: no such module in %s (built in, or misspelt?)", n, k.Release)
		}
		visit(p)
	}
	guestDir := "/lib/modules/" + k.Release
	var files []File
	var depLines strings.Builder
	for p := range want {
		files = append(files, File{Host: filepath.Join(k.Modules, p), Guest: path.Join(guestDir, p)})
		fmt.Fprintf(&depLines, "%s: %s\n", p, strings.Join(deps[p], " "))
	}
	files = append(files, File{Guest: path.Join(guestDir, "modules.dep"), data: []byte(depLines.String())})
	return files, nil
}

// modulesByName reads a modules.dep: each module's dependencies by path,
// and each module's path by name.
func modulesByName(dep string) (deps map[string][]string, byName map[string]string, err error) {
	if deps, err = readModulesDep(dep); err != nil {
		return nil, nil, err
	}
	byName = map[string]string{}
	for p := range deps {
		byName[moduleName(p)] = p
	}
	return deps, byName, nil
}

func readModulesDep(name string) (map[string][]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	deps := map[string][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		mod, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		deps[mod] = strings.Fields(rest)
	}
	return deps, sc.Err()
}

// moduleName is the name a module file loads as: "kernel/fs/ext4/ext4.ko"
// is ext4, with dashes as underscores.
func moduleName(p string) string {
	base := path.Base(p)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// builtinModules returns the names of the modules built into the kernel,
// from the image's modules.builtin.
func builtinModules(k *kbuild.Kernel) (map[string]bool, error) {
	b, err := os.ReadFile(filepath.Join(k.Modules, "modules.builtin"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("modules of the image: %w", err)
	}
	return parseModulesBuiltin(string(b)), nil
}

// parseModulesBuiltin reads a modules.builtin file: one path a line.
func parseModulesBuiltin(s string) map[string]bool {
	names := map[string]bool{}
	for _, l := range strings.Fields(s) {
		names[moduleName(l)] = true
	}
	return names
}

// notBuiltin returns the names of names that are not built in.
func notBuiltin(names []string, builtin map[string]bool) []string {
	var out []string
	for _, n := range names {
		if !builtin[strings.ReplaceAll(n, "-", "_")] {
			out = append(out, n)
		}
	}
	return out
}

// preSoftdeps returns the modules that the named modules, or any module
// they depend on, ask to have loaded before them (modules.softdep's "pre:",
// such as libcrc32c's crc32c, which its init looks up by name: without it
// loading fails), resolved through modules.alias to a module of the image,
// the generic one where there are several (a CPU-specific one may not load
// under emulation). Busybox's modprobe does not read soft dependencies.
// Needs the modules.dep moduleFiles makes, which it makes only when some
// module is wanted: with none, there is nothing to ask for (a fresh cache
// has no modules.dep until a guest loads a module).
func preSoftdeps(k *kbuild.Kernel, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	deps, byName, err := modulesByName(filepath.Join(k.Modules, "modules.dep"))
	if err != nil {
		return nil, err
	}
	soft := map[string][]string{} // module -> pre soft dependencies
	if b, err := os.ReadFile(filepath.Join(k.Modules, "modules.softdep")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 3 || f[0] != "softdep" {
				continue
			}
			pre := false
			for _, w := range f[2:] {
				switch w {
				case "pre:":
					pre = true
				case "post:":
					pre = false
				default:
					if pre {
						soft[strings.ReplaceAll(f[1], "-", "_")] = append(soft[strings.ReplaceAll(f[1], "-", "_")], w)
					}
				}
			}
		}
	}
	if len(soft) == 0 {
		return nil, nil
	}
	aliases := map[string][]string{}
	if b, err := os.ReadFile(filepath.Join(k.Modules, "modules.alias")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "alias" {
				aliases[f[1]] = append(aliases[f[1]], f[2])
			}
		}
	}
	resolve := func(name string) string {
		n := strings.ReplaceAll(name, "-", "_")
		if _, ok := byName[n]; ok {
			return n
		}
		cands := aliases[name]
		for _, c := range cands {
			if strings.HasSuffix(c, "_generic") {
				return c
			}
		}
		if len(cands) > 0 {
			return cands[0]
		}
		return ""
	}
	var out []string
	seen := map[string]bool{}
	var visit func(p string)
	visit = func(p string) {
		if seen[p] {
			return
		}
		seen[p] = true
		for _, d := range deps[p] {
			visit(d)
		}
		for _, s := range soft[moduleName(p)] {
			if m := resolve(s); m != "" && !slices.Contains(out, m) {
				if _, ok := byName[m]; ok {
					out = append(out, m)
				}
			}
		}
	}
	for _, n := range names {
		if p, ok := byName[strings.ReplaceAll(n, "-", "_")]; ok {
			visit(p)
		}
	}
	return out, nil
}
