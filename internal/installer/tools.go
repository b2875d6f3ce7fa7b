package installer

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/gonbgpu/gonbgpu/gpu/plugin"
	"github.com/gonbgpu/gonbgpu/install"
	"github.com/gonbgpu/gonbgpu/internal/fsutil"
	"github.com/gonbgpu/gonbgpu/internal/kernelspec"
	"github.com/gonbgpu/gonbgpu/internal/xlacpu"
)

// modulePath is gonbgpu's module path, used to recognise a checkout.
const modulePath = "github.com/gonbgpu/gonbgpu"

// goplsVersion is the gopls built for the kernel's autocomplete; v0.24 needs Go 1.27.
const goplsVersion = "v0.23.0"

// findCheckout returns the gonbgpu checkout: dir if given, else the module root above the current folder.
func findCheckout(dir string) (string, error) {
	if dir != "" {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return "", err
		}
		if !isCheckout(abs) {
			return "", fmt.Errorf("gonbgpu install: %s is not a gonbgpu checkout (no go.mod for %s)", abs, modulePath)
		}
		return abs, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if isCheckout(d) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("gonbgpu install: run it inside a gonbgpu checkout (no go.mod for %s above %s), or pass --checkout DIR", modulePath, wd)
		}
	}
}

func isCheckout(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[0] == "module" {
			return fields[1] == modulePath
		}
	}
	return false
}

// goRun runs the go command in dir and returns its combined output on failure.
func goRun(goCmd, dir string, env []string, args ...string) ([]byte, error) {
	cmd := exec.Command(goCmd, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("`go %s` failed: %v\n%s", strings.Join(args, " "), err, lastLines(string(out), 20))
	}
	return out, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// buildEnv is the environment for building the kernel's tools and running the go command on the
// checkout: build.env's variables (as `make` sets them, so that `gonbgpu install` run by hand builds the
// same way), go.mod's toolchain, and no GOFLAGS of the user's (say -mod=vendor) in the way.
func buildEnv(checkout string) []string {
	return append(install.BuildEnv(), "GOTOOLCHAIN="+install.Toolchain(checkout), "GOFLAGS=")
}

// buildTools builds GoNB and goimports (pinned by go.mod's tool directives), gonbgpu-kernel (the small
// wrapper the kernelspec starts GoNB through) and gopls into binDir.
func buildTools(o *Options, m *manifest, goCmd, checkout, binDir string) error {
	if err := m.ensureDir(binDir); err != nil {
		return err
	}
	m.addDir("bin")
	tmp, err := os.MkdirTemp(filepath.Dir(binDir), ".build-*")
	if err != nil {
		return fmt.Errorf("gonbgpu install: %w", err)
	}
	defer os.RemoveAll(tmp)
	if _, err := goRun(goCmd, checkout, buildEnv(checkout), "build", "-o", tmp+string(os.PathSeparator),
		"github.com/janpfeifer/gonb", "golang.org/x/tools/cmd/goimports", modulePath+"/internal/cmd/gonbgpu-kernel"); err != nil {
		return fmt.Errorf("gonbgpu install: building gonb, goimports and gonbgpu-kernel: %w", err)
	}
	verbs, err := placeTools(m, tmp, "gonb", "goimports", "gonbgpu-kernel")
	if err != nil {
		return err
	}
	o.step("tools", "gonb, goimports (go.mod tools), gonbgpu-kernel in %s (%s)", binDir, verbs)

	// gopls only powers autocomplete and hover: a failure is a warning, not an error.
	gobin, err := os.MkdirTemp(tmp, "gopls-*")
	if err == nil {
		_, err = goRun(goCmd, tmp, append(buildEnv(checkout), "GOBIN="+gobin), "install", "golang.org/x/tools/gopls@"+goplsVersion)
	}
	if err == nil {
		var v string
		v, err = placeTools(m, gobin, "gopls")
		if err == nil {
			o.step("gopls", "%s in %s (%s): autocomplete and hover on", goplsVersion, binDir, v)
			return nil
		}
	}
	o.step("gopls", "WARNING: gopls %s could not be built (%s); notebooks work, but autocomplete and hover are off", goplsVersion, firstLine(err.Error()))
	return nil
}

// placeTools moves built binaries into the manifest's bin folder, replacing only those that changed.
func placeTools(m *manifest, from string, names ...string) (string, error) {
	counts := map[string]int{}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(from, n))
		if err != nil {
			return "", fmt.Errorf("gonbgpu install: built %s is missing: %w", n, err)
		}
		verb, err := m.write(filepath.Join("bin", n), data, 0o755)
		if err != nil {
			return "", err
		}
		counts[verb]++
	}
	var parts []string
	for _, v := range []string{"written", "updated", "unchanged"} {
		if counts[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[v], v))
		}
	}
	return strings.Join(parts, ", "), nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// cellEnv downloads the modules cells need and returns the environment notebook cells run with.
func cellEnv(o *Options, m *manifest, goCmd, checkout, binDir string) (map[string]string, error) {
	if _, err := goRun(goCmd, checkout, buildEnv(checkout), "mod", "download"); err != nil {
		return nil, fmt.Errorf("gonbgpu install: downloading modules: %w", err)
	}
	pinned, mods, err := writePinnedProxy(m, goCmd, checkout)
	if err != nil {
		return nil, err
	}
	out, err := goRun(goCmd, checkout, buildEnv(checkout), "env", "GOMODCACHE", "GOPROXY")
	if err != nil {
		return nil, fmt.Errorf("gonbgpu install: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		return nil, fmt.Errorf("gonbgpu install: unexpected `go env` output %q", out)
	}
	modCache, userProxy := strings.TrimSpace(lines[0]), strings.TrimSpace(lines[1])
	proxy := "file://" + filepath.ToSlash(pinned) + ",file://" + filepath.ToSlash(filepath.Join(modCache, "cache", "download"))
	if userProxy != "" && userProxy != "off" {
		proxy += "," + userProxy
	}
	o.step("modules", "all of go.mod's modules are in %s; cells resolve imports offline, pinned to the checkout's %d module versions (%s)",
		modCache, len(mods), pinned)
	env := kernelEnv(goCmd, checkout, binDir, proxy, noSumDB(mods))
	search := plugin.Find()
	if p := search.Best(); p != nil {
		path, err := p.LinkDir(fsutil.CacheDir())
		if err != nil {
			o.step("cuda", "WARNING: found %s but could not prepare it: %v; cells will use the pure-Go backend", p, err)
		} else {
			env[plugin.PathEnv] = filepath.Dir(path)
			o.step("cuda", "plugin %s; %s=%s", p, plugin.PathEnv, filepath.Dir(path))
		}
	} else {
		o.step("cuda", "no CUDA PJRT plugin found: cells use the CPU (`gonbgpu devices` says where it looked)")
	}
	// XLA's CPU plugin, checked (a child process loads it and compiles a small graph) and recorded, so
	// that cells find the same one wherever Jupyter starts: the backend of a node without a GPU.
	places := xlacpu.DefaultPlaces()
	places.Checkouts = append([]string{checkout}, places.Checkouts...)
	cpu := xlacpu.Find(places)
	if p, r, refused := plugin.PickCPU(cpu, fsutil.CacheDir()); p != nil {
		env[xlacpu.PluginEnv] = p.Path
		o.step("xla:cpu", "XLA CPU plugin %s (%s, %d CPU devices); %s=%s", p, r.API, r.Devices, xlacpu.PluginEnv, p.Path)
	} else if refused != "" {
		o.step("xla:cpu", "WARNING: no usable XLA CPU plugin (%s): cells without a GPU use the pure-Go backend; `make venv` installs the pinned one", refused)
	} else {
		o.step("xla:cpu", "no XLA CPU plugin found: cells without a GPU use the pure-Go backend; `make venv` installs the pinned one")
	}
	return env, nil
}

// kernelEnv is the kernelspec's env before the CUDA plugin and the datasets folder: the kernel's tools
// and this go first on PATH, the module proxies, and what cells compile with. GoNB compiles every cell,
// so that is build.env's variables and go.mod's toolchain, exactly as gonbgpu itself builds.
func kernelEnv(goCmd, checkout, binDir, proxy, noSumDBList string) map[string]string {
	env := map[string]string{
		"PATH":             binDir + string(os.PathListSeparator) + filepath.Dir(goCmd) + string(os.PathListSeparator) + "${PATH}",
		"GOPROXY":          proxy,
		"GONOSUMDB":        noSumDBList,
		"GOTOOLCHAIN":      install.Toolchain(checkout),
		xlacpu.CheckoutEnv: checkout,
	}
	for _, kv := range install.BuildEnv() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// writeKernelspec writes kernel.json and the logos, keeping a kernel.json the user edited unless Force.
func writeKernelspec(o *Options, m *manifest, kdir string, s *kernelspec.Spec) (*Result, error) {
	data, err := s.Marshal()
	if err != nil {
		return nil, err
	}
	res := &Result{KernelDir: kdir, Spec: s}
	st, cur := m.status("kernel.json")
	if (st == fileEdited || st == fileForeign) && !o.Force {
		kept, err := kernelspec.Parse(filepath.Join(kdir, "kernel.json"), cur)
		if err != nil {
			return nil, fmt.Errorf("gonbgpu install: %w (use --force to rewrite it)", err)
		}
		res.Spec, res.Kept = kept, true
		o.step("kernelspec", "kept %s: it was edited after install (use --force to overwrite it)", filepath.Join(kdir, "kernel.json"))
	} else {
		verb, err := m.write("kernel.json", data, 0o644)
		if err != nil {
			return nil, err
		}
		o.step("kernelspec", "%s %s", verb, filepath.Join(kdir, "kernel.json"))
	}
	for name, content := range kernelspec.Logos() {
		if st, _ := m.status(name); (st == fileForeign || st == fileEdited) && !o.Force {
			o.step("kept", "%s: not as gonbgpu wrote it (use --force to overwrite it)", filepath.Join(kdir, name))
			continue
		}
		if _, err := m.write(name, content, 0o644); err != nil {
			return nil, err
		}
	}
	return res, nil
}
