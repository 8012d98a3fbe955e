package lab

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
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
	deps, err := readModulesDep(dep)
	if err != nil {
		return nil, err
	}
	byName := map[string]string{}
	for p := range deps {
		byName[moduleName(p)] = p
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
	tmp, err := os.CreateTemp("", "ksplice-modules-dep-")
	if err != nil {
		return nil, err
	}
	tmp.WriteString(depLines.String())
	tmp.Close()
	files = append(files, File{Host: tmp.Name(), Guest: path.Join(guestDir, "modules.dep")})
	return files, nil
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
