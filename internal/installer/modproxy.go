package installer

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/mod/module"
)

// pinnedProxyDir is the kernelspec's private Go module proxy, relative to the kernelspec folder.
const pinnedProxyDir = "modproxy"

// pinnedModule is one module of the checkout's build list, at the version go.mod pins.
type pinnedModule struct{ Path, Version string }

// writePinnedProxy writes, into the kernelspec folder, a Go module proxy that answers version lists only:
// for every module in the checkout's build list, the one version the checkout builds with. It returns the
// proxy's folder and the modules it pins.
//
// Why: GoNB compiles each cell as its own module and runs `go get` for the cell's imports, which picks the
// newest version the proxies list. A user's module cache lists whatever their other Go work downloaded (a
// newer GoMLX that needs another Go, or one the project was never tested with), so cells would compile
// against it. First in the cells' GOPROXY, this proxy makes "newest" mean "the project's version" for the
// project's modules. It holds no module files: those are in the module cache, where `go mod download` put
// them and the go command looks first; so it is a few kilobytes, and works with no network. Modules a
// student adds that the project doesn't use are not listed here, and resolve through the user's proxies.
func writePinnedProxy(m *manifest, goCmd, checkout string) (string, []pinnedModule, error) {
	out, err := goRun(goCmd, checkout, buildEnv(checkout), "list", "-m", "-f", "{{if .Version}}{{.Path}} {{.Version}}{{end}}", "all")
	if err != nil {
		return "", nil, fmt.Errorf("gonbgpu install: listing the checkout's modules: %w", err)
	}
	mods, err := parsePinned(string(out))
	if err != nil {
		return "", nil, fmt.Errorf("gonbgpu install: listing the checkout's modules: %w", err)
	}
	root := filepath.Join(m.dir, pinnedProxyDir)
	for _, mod := range mods {
		escaped, err := module.EscapePath(mod.Path)
		if err != nil {
			return "", nil, fmt.Errorf("gonbgpu install: module path %q: %w", mod.Path, err)
		}
		rel := filepath.Join(pinnedProxyDir, filepath.FromSlash(escaped), "@v")
		if err := m.ensureDir(filepath.Join(m.dir, rel)); err != nil {
			return "", nil, err
		}
		if _, err := m.write(filepath.Join(rel, "list"), []byte(mod.Version+"\n"), 0o644); err != nil {
			return "", nil, err
		}
	}
	return root, mods, nil
}

// parsePinned reads `go list -m -f '{{.Path}} {{.Version}}' all` output.
func parsePinned(out string) ([]pinnedModule, error) {
	var mods []pinnedModule
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		path, version, ok := strings.Cut(line, " ")
		if !ok || module.CheckPath(path) != nil || !strings.HasPrefix(version, "v") {
			return nil, fmt.Errorf("unexpected line %q", line)
		}
		mods = append(mods, pinnedModule{Path: path, Version: version})
	}
	if len(mods) == 0 {
		return nil, fmt.Errorf("no modules listed")
	}
	return mods, nil
}

// noSumDB is GONOSUMDB for the pinned modules: the cells' go.sum gets their hashes from the module cache,
// whose files `go mod download` checked against the checkout's go.sum at install, without asking the
// checksum database — which a compute node can't reach.
func noSumDB(mods []pinnedModule) string {
	paths := make([]string, len(mods))
	for i, m := range mods {
		paths[i] = m.Path
	}
	return strings.Join(paths, ",")
}
