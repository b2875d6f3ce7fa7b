package installer

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/install"
	"github.com/gonbgpu/gonbgpu/internal/kernelspec"
	"github.com/gonbgpu/gonbgpu/internal/xlacpu"
)

// checkout is this repository's root (the module root two folders above this package).
func checkout(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

func needJupyter(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("jupyter"); err != nil {
		t.Fatalf("jupyter is not installed: `make test` installs it (apt-get install %s)", strings.Join(JupyterPackages, " "))
	}
}

// snapshot maps every file under dir to its checksum, mode and modification time, to prove that a
// second install changes nothing.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if fi.IsDir() {
			snap[rel+"/"] = fi.Mode().String()
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h := sha256.Sum256(data)
		snap[rel] = hex.EncodeToString(h[:]) + " " + fi.Mode().String() + " " + fi.ModTime().String()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func mustInstall(t *testing.T, o Options) (*Result, string) {
	t.Helper()
	var out bytes.Buffer
	o.Out = &out
	if o.Checkout == "" {
		o.Checkout = checkout(t)
	}
	o.NoSystemPackages = true
	res, err := Install(o)
	if err != nil {
		t.Fatalf("install failed: %v\noutput:\n%s", err, out.String())
	}
	return res, out.String()
}

// foreignKernel writes another kernel's spec into dataDir, as if the user had Python's kernel there.
func foreignKernel(t *testing.T, dataDir string) string {
	t.Helper()
	dir := filepath.Join(dataDir, "kernels", "python3")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	k := `{"argv":["python3","-m","ipykernel_launcher","-f","{connection_file}"],"display_name":"Python 3","language":"python"}`
	if err := os.WriteFile(filepath.Join(dir, "kernel.json"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestInstallKernelspec is the check: install into a temporary JUPYTER_DATA_DIR, look at the
// kernelspec, install again and see nothing change, and see a foreign kernelspec untouched throughout.
func TestInstallKernelspec(t *testing.T) {
	needJupyter(t)
	data := t.TempDir()
	t.Setenv("JUPYTER_DATA_DIR", data)
	foreign := foreignKernel(t, data)
	foreignBefore := snapshot(t, foreign)
	datasetsDir := t.TempDir()
	t.Setenv("GONBGPU_DATA", datasetsDir)

	res, out := mustInstall(t, Options{})
	kdir := filepath.Join(data, "kernels", "gonbgpu")
	if res.KernelDir != kdir {
		t.Fatalf("installed into %s, want %s (JUPYTER_DATA_DIR)", res.KernelDir, kdir)
	}
	if !strings.Contains(out, "  warning     the Jupyter folder "+data) {
		t.Errorf("no warning that the Jupyter folder %s is temporary:\n%s", data, out)
	}
	for _, step := range []string{"jupyter", "location", "tools", "gopls", "modules", "cuda", "xla:cpu", "kernelspec", "check"} {
		if !strings.Contains(out, "  "+step+" ") {
			t.Errorf("no %q step line in:\n%s", step, out)
		}
	}
	s, err := kernelspec.Read(filepath.Join(kdir, "kernel.json"))
	if err != nil {
		t.Fatal(err)
	}
	if s.DisplayName != "Go (gonbgpu)" || s.Language != "go" {
		t.Errorf("display name/language: %q %q", s.DisplayName, s.Language)
	}
	if s.Argv[0] != filepath.Join(kdir, "bin", "gonbgpu-kernel") || s.Argv[1] != filepath.Join(kdir, "bin", "gonb") ||
		s.Argv[2] != "--kernel" || s.Argv[3] != "{connection_file}" {
		t.Errorf("argv: %q", s.Argv)
	}
	if w, ok := s.Flag("go_work"); !ok || w != checkout(t) {
		t.Errorf("-go_work=%q, want %q", w, checkout(t))
	}
	// XLA's CPU plugin (the checkout's .venv, `make venv`) is checked and recorded, so cells use it wherever
	// Jupyter starts.
	if p := s.Env[xlacpu.PluginEnv]; !strings.HasPrefix(p, filepath.Join(checkout(t), ".venv")) || !strings.HasSuffix(p, ".so") {
		t.Errorf("%s=%q: want the checkout's .venv plugin recorded\n%s", xlacpu.PluginEnv, p, out)
	}
	if !strings.HasPrefix(s.Env["GOPROXY"], "file://") || !strings.Contains(s.Env["GOPROXY"], "/cache/download") {
		t.Errorf("GOPROXY=%q", s.Env["GOPROXY"])
	}
	if s.Env["GONBGPU_DATA"] != datasetsDir {
		t.Errorf("GONBGPU_DATA=%q in the kernelspec, want %q (the install's)", s.Env["GONBGPU_DATA"], datasetsDir)
	}
	checkEnvHasBuildEnv(t, "kernel.json's env", s.Env, install.BuildEnv()) // cells compile as gonbgpu builds
	if s.Env["GOTOOLCHAIN"] != install.Toolchain(checkout(t)) {
		t.Errorf("GOTOOLCHAIN=%q, want go.mod's %q", s.Env["GOTOOLCHAIN"], install.Toolchain(checkout(t)))
	}
	if !strings.HasPrefix(s.Env["PATH"], filepath.Join(kdir, "bin")+":") || !strings.HasSuffix(s.Env["PATH"], "${PATH}") {
		t.Errorf("PATH=%q", s.Env["PATH"])
	}
	for _, tool := range []string{"gonb", "goimports", "gopls", "gonbgpu-kernel"} {
		fi, err := os.Stat(filepath.Join(kdir, "bin", tool))
		if err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("tool %s not installed as an executable: %v", tool, err)
		}
	}
	for name := range kernelspec.Logos() {
		if _, err := os.Stat(filepath.Join(kdir, name)); err != nil {
			t.Errorf("logo %s: %v", name, err)
		}
	}

	// `jupyter kernelspec list` sees it.
	listed, err := exec.Command("jupyter", "kernelspec", "list").Output()
	if err != nil || !strings.Contains(string(listed), kdir) {
		t.Fatalf("jupyter kernelspec list: %v\n%s", err, listed)
	}

	// Installing twice changes nothing.
	before := snapshot(t, kdir)
	_, out2 := mustInstall(t, Options{})
	after := snapshot(t, kdir)
	if diff := diffSnap(before, after); diff != "" {
		t.Errorf("second install changed files:\n%s", diff)
	}
	if !strings.Contains(out2, "unchanged") || strings.Contains(out2, "written") {
		t.Errorf("second install should report unchanged files:\n%s", out2)
	}
	if diff := diffSnap(foreignBefore, snapshot(t, foreign)); diff != "" {
		t.Errorf("the python3 kernelspec was touched:\n%s", diff)
	}

	// Uninstall removes gonbgpu's folder and nothing else.
	var uout bytes.Buffer
	if err := Uninstall(Options{Out: &uout}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(kdir); !os.IsNotExist(err) {
		t.Errorf("uninstall left %s: %v", kdir, err)
	}
	if diff := diffSnap(foreignBefore, snapshot(t, foreign)); diff != "" {
		t.Errorf("uninstall touched the python3 kernelspec:\n%s", diff)
	}
}

// TestInstallKeepsEditsAndForeignFiles checks that a user's edit of kernel.json survives a reinstall
// (unless --force) and that uninstall leaves a file the user added.
func TestInstallKeepsEditsAndForeignFiles(t *testing.T) {
	needJupyter(t)
	prefix := t.TempDir()
	res, _ := mustInstall(t, Options{Prefix: prefix})
	kdir := filepath.Join(prefix, "share", "jupyter", "kernels", "gonbgpu")
	if res.KernelDir != kdir {
		t.Fatalf("--prefix: installed into %s, want %s", res.KernelDir, kdir)
	}
	kj := filepath.Join(kdir, "kernel.json")
	s, err := kernelspec.Read(kj)
	if err != nil {
		t.Fatal(err)
	}
	s.Env["MY_SETTING"] = "mine"
	data, _ := s.Marshal()
	if err := os.WriteFile(kj, data, 0o644); err != nil {
		t.Fatal(err)
	}
	notes := filepath.Join(kdir, "my-notes.txt")
	os.WriteFile(notes, []byte("mine"), 0o644)

	res, out := mustInstall(t, Options{Prefix: prefix})
	if !res.Kept || !strings.Contains(out, "kept") {
		t.Fatalf("edited kernel.json should be kept:\n%s", out)
	}
	if s2, _ := kernelspec.Read(kj); s2.Env["MY_SETTING"] != "mine" {
		t.Fatalf("the user's edit was lost")
	}
	res, _ = mustInstall(t, Options{Prefix: prefix, Force: true})
	if s3, _ := kernelspec.Read(kj); res.Kept || s3.Env["MY_SETTING"] != "" {
		t.Fatalf("--force should rewrite kernel.json")
	}

	var uout bytes.Buffer
	if err := Uninstall(Options{Prefix: prefix, Out: &uout}); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(kdir)
	if len(left) != 1 || left[0].Name() != "my-notes.txt" {
		names := []string{}
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Fatalf("uninstall should leave only the user's file, left %v\n%s", names, uout.String())
	}
}

// TestInstallRefusesForeignGonbgpu: a "gonbgpu" kernelspec that gonbgpu did not write is not replaced.
func TestInstallRefusesForeignGonbgpu(t *testing.T) {
	data := t.TempDir()
	kdir := filepath.Join(data, "kernels", "gonbgpu")
	os.MkdirAll(kdir, 0o755)
	foreign := `{"argv":["x","{connection_file}"],"display_name":"someone else's","language":"go"}`
	os.WriteFile(filepath.Join(kdir, "kernel.json"), []byte(foreign), 0o644)
	var out bytes.Buffer
	_, err := Install(Options{DataDir: data, Checkout: checkout(t), Out: &out, NoSystemPackages: true})
	if err == nil || !strings.Contains(err.Error(), "did not write") || !strings.Contains(err.Error(), kdir) {
		t.Fatalf("want a refusal naming %s, got %v", kdir, err)
	}
	if got, _ := os.ReadFile(filepath.Join(kdir, "kernel.json")); string(got) != foreign {
		t.Fatalf("foreign kernel.json was modified")
	}
	out.Reset()
	if err := Uninstall(Options{DataDir: data, Out: &out}); err != nil || !strings.Contains(out.String(), "left alone: kernel.json") {
		t.Fatalf("uninstall of a kernelspec gonbgpu did not write must be a no-op that says so: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(filepath.Join(kdir, "kernel.json")); err != nil {
		t.Fatalf("uninstall removed a foreign kernelspec")
	}
}

// TestInstallUnwritableLocation: a data dir that cannot be created or written fails with a message
// naming it (root ignores permission bits, so use places no one can write).
func TestInstallUnwritableLocation(t *testing.T) {
	needJupyter(t)
	file := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(file, nil, 0o644)
	for _, dir := range []string{filepath.Join(file, "jupyter"), "/proc/gonbgpu-cannot-exist"} {
		var out bytes.Buffer
		_, err := Install(Options{DataDir: dir, Checkout: checkout(t), Out: &out, NoSystemPackages: true})
		if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "--prefix") {
			t.Errorf("data dir %s: want a clear error naming it, got %v", dir, err)
		}
	}
}

func TestFindCheckout(t *testing.T) {
	if _, err := findCheckout(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a gonbgpu checkout") {
		t.Fatalf("want an error for a non-checkout, got %v", err)
	}
	got, err := findCheckout(checkout(t))
	if err != nil || got != checkout(t) {
		t.Fatalf("findCheckout: %q %v", got, err)
	}
}

func TestManifestRejectsEscapingPaths(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, manifestName), []byte(`{"files":{"../../etc/passwd":"x"}}`), 0o644)
	if _, err := readManifest(dir); err == nil || !strings.Contains(err.Error(), "outside") {
		t.Fatalf("want a refusal, got %v", err)
	}
}

func diffSnap(a, b map[string]string) string {
	var keys []string
	seen := map[string]bool{}
	for k := range a {
		keys, seen[k] = append(keys, k), true
	}
	for k := range b {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var d strings.Builder
	for _, k := range keys {
		if a[k] != b[k] {
			d.WriteString(k + ": " + a[k] + " -> " + b[k] + "\n")
		}
	}
	return d.String()
}

// TestInstallCUDARefusesWithoutGPU: on a machine with no GPU, --cuda stops before downloading gigabytes.
func TestInstallCUDARefusesWithoutGPU(t *testing.T) {
	t.Setenv("CUDA_VISIBLE_DEVICES", "") // hides any GPU, as on this CI machine
	var out bytes.Buffer
	_, err := Install(Options{DataDir: t.TempDir(), Checkout: checkout(t), CUDA: true, Out: &out, NoSystemPackages: true})
	if err == nil || !strings.Contains(err.Error(), "no NVIDIA GPU is visible") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("want a refusal, got %v", err)
	}
}

func TestInstallMissingPrefix(t *testing.T) {
	var out bytes.Buffer
	missing := filepath.Join(t.TempDir(), "no-such-env")
	_, err := Install(Options{Prefix: missing, Checkout: checkout(t), Out: &out, NoSystemPackages: true})
	if err == nil || !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), "no such folder") {
		t.Fatalf("want an error naming %s, got %v", missing, err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("the missing prefix was created")
	}
}
