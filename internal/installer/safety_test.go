package installer

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeInstall writes, through the manifest, what an install leaves in a kernelspec folder (kernel.json, a
// logo, bin/gonb), without building anything.
func fakeInstall(t *testing.T, kdir string) *manifest {
	t.Helper()
	m, err := openManifest(kdir, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.ensureDir(filepath.Join(kdir, "bin")); err != nil {
		t.Fatal(err)
	}
	m.addDir("bin")
	for rel, content := range map[string]string{"kernel.json": `{"argv":["x"],"display_name":"Go (gonbgpu)","language":"go"}`,
		"logo-32x32.png": "png", "bin/gonb": "gonb binary"} {
		if _, err := m.write(rel, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.save(); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestInstallNeverOverwritesForeignFiles: a bin/gonb that another tool put in the kernel folder, or one
// changed since gonbgpu wrote it, is not replaced (the error names it) unless --force.
func TestInstallNeverOverwritesForeignFiles(t *testing.T) {
	built := t.TempDir()
	os.WriteFile(filepath.Join(built, "gonb"), []byte("new gonb"), 0o755)
	for _, edited := range []bool{false, true} {
		kdir := filepath.Join(t.TempDir(), "kernels", "gonbgpu")
		theirs := filepath.Join(kdir, "bin", "gonb")
		if edited {
			fakeInstall(t, kdir)
		} else {
			os.MkdirAll(filepath.Dir(theirs), 0o755)
		}
		os.WriteFile(theirs, []byte("another tool's gonb"), 0o755)
		m, err := openManifest(kdir, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := placeTools(m, built, "gonb"); err == nil || !strings.Contains(err.Error(), theirs) || !strings.Contains(err.Error(), "--force") {
			t.Errorf("edited=%v: want a refusal naming %s, got %v", edited, theirs, err)
		}
		if data, _ := os.ReadFile(theirs); string(data) != "another tool's gonb" {
			t.Fatalf("edited=%v: %s was overwritten", edited, theirs)
		}
		m.force = true
		if _, err := placeTools(m, built, "gonb"); err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(theirs); string(data) != "new gonb" {
			t.Errorf("edited=%v: --force did not replace it", edited)
		}
	}
}

// TestUninstallKeepsUserFilesAndRepeats: uninstall removes only files still as gonbgpu wrote them; an
// edited kernel.json and a foreign bin/gonb stay, and it says so; a second uninstall is a no-op with one
// clear line, as is one where nothing was ever installed.
func TestUninstallKeepsUserFilesAndRepeats(t *testing.T) {
	data := t.TempDir()
	kdir := filepath.Join(data, "kernels", "gonbgpu")
	fakeInstall(t, kdir)
	kj := filepath.Join(kdir, "kernel.json")
	os.WriteFile(kj, []byte(`{"argv":["mine"],"display_name":"edited","language":"go"}`), 0o644)
	os.WriteFile(filepath.Join(kdir, "bin", "gonb"), []byte("replaced by another tool"), 0o755)

	var out bytes.Buffer
	if err := Uninstall(Options{DataDir: data, Out: &out}); err != nil {
		t.Fatal(err)
	}
	for _, kept := range []string{kj, filepath.Join(kdir, "bin", "gonb")} {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("uninstall deleted %s, which the user changed", kept)
		}
		if !strings.Contains(out.String(), kept) {
			t.Errorf("uninstall does not say it kept %s:\n%s", kept, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(kdir, "logo-32x32.png")); !os.IsNotExist(err) {
		t.Errorf("uninstall left gonbgpu's own unchanged file")
	}

	for _, dir := range []string{data, t.TempDir()} { // again; and where nothing was installed
		out.Reset()
		if err := Uninstall(Options{DataDir: dir, Out: &out}); err != nil {
			t.Errorf("repeated uninstall in %s failed: %v", dir, err)
		}
		if !strings.Contains(out.String(), "nothing") || strings.Count(strings.TrimSpace(out.String()), "\n") != 2 {
			t.Errorf("repeated uninstall should say, in one line, that there is nothing to remove:\n%s", out.String())
		}
	}
	if data, _ := os.ReadFile(kj); !strings.Contains(string(data), "mine") {
		t.Errorf("a repeated uninstall touched the user's kernel.json")
	}
}

// TestManifestValidatesEveryEntry: folders are checked like files; hashes must be SHA-256; a link
// planted in the kernel folder does not lead uninstall outside it.
func TestManifestValidatesEveryEntry(t *testing.T) {
	for _, bad := range []string{
		`{"files":{},"dirs":["../../home"]}`,
		`{"files":{},"dirs":["/etc"]}`,
		`{"files":{},"dirs":["."]}`,
		`{"files":{"kernel.json":"not-a-hash"}}`,
		`{"files":{"bin/../../x":"` + strings.Repeat("a", 64) + `"}}`,
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, manifestName), []byte(bad), 0o644)
		if _, err := readManifest(dir); err == nil {
			t.Errorf("manifest %s accepted", bad)
		}
	}

	// bin is a link to a folder outside, holding a file whose hash the manifest records.
	data := t.TempDir()
	kdir := filepath.Join(data, "kernels", "gonbgpu")
	outside := t.TempDir()
	victim := filepath.Join(outside, "gonb")
	os.WriteFile(victim, []byte("precious"), 0o644)
	os.MkdirAll(kdir, 0o755)
	os.Symlink(outside, filepath.Join(kdir, "bin"))
	m := &manifest{dir: kdir, Files: map[string]string{"bin/gonb": sum([]byte("precious"))}, Dirs: []string{"bin"}}
	if err := m.save(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Uninstall(Options{DataDir: data, Out: &out}); err != nil {
		t.Logf("uninstall: %v", err)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("uninstall followed a link out of the kernel folder and deleted %s", victim)
	}
	// Nor does an install write through it.
	m2, _ := openManifest(kdir, true)
	if _, err := m2.write("bin/gonb", []byte("overwritten"), 0o755); err == nil {
		t.Errorf("write followed a link out of the kernel folder")
	}
	if data, _ := os.ReadFile(victim); string(data) != "precious" {
		t.Fatalf("%s was overwritten through a link", victim)
	}
}

// TestInstallRefusesPathListCharacters: a Jupyter folder whose path holds ':' (PATH's separator) or '$'
// (which Jupyter substitutes in kernelspec env values) is refused before anything is written.
func TestInstallRefusesPathListCharacters(t *testing.T) {
	needJupyter(t)
	for _, name := range []string{"course:2026", "price$HOME"} {
		data := filepath.Join(t.TempDir(), name)
		var out bytes.Buffer
		_, err := Install(Options{DataDir: data, Checkout: checkout(t), Out: &out, NoSystemPackages: true})
		if err == nil || !strings.Contains(err.Error(), data) || !strings.Contains(err.Error(), "cannot stand in the kernel's environment") {
			t.Errorf("data dir %s: want a refusal naming it, got %v\n%s", data, err, out.String())
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("data dir %s was created before the refusal", data)
		}
	}
}

// TestWarnTemporary: a checkout or Jupyter folder under /tmp gets a warning line; one elsewhere none.
func TestWarnTemporary(t *testing.T) {
	var out bytes.Buffer
	o := &Options{Out: &out}
	warnTemporary(o, "checkout", filepath.Join(os.TempDir(), "x", "gonbgpu"))
	warnTemporary(o, "Jupyter folder", "/tmp/jupyter")
	if n := strings.Count(out.String(), "warning"); n != 2 || !strings.Contains(out.String(), "temporary") {
		t.Errorf("want two warnings:\n%s", out.String())
	}
	out.Reset()
	home, _ := os.UserHomeDir()
	warnTemporary(o, "checkout", filepath.Join(home, "gonbgpu"))
	if out.Len() > 0 {
		t.Errorf("warned about %s:\n%s", home, out.String())
	}
}

// TestHelpForSystem: what is missing is said with the commands for the kind of machine: module load on a
// cluster with environment modules, conda where conda is, pip --user and Go's tarball into $HOME always
// (no root needed), apt-get only on Debian.
func TestHelpForSystem(t *testing.T) {
	cluster := system{Modules: true, Conda: true}
	for _, want := range []string{"module load go", "conda install -c conda-forge go", "tar -C $HOME/.local", "go.dev/dl/go1.27.3.linux-", ">= 1.21"} {
		if !strings.Contains(goHelp(cluster), want) {
			t.Errorf("goHelp on a cluster lacks %q:\n%s", want, goHelp(cluster))
		}
	}
	for _, want := range []string{"module avail", "conda create -n gonbgpu", "pip install --require-hashes -r install/python/requirements.txt",
		"pip install --user --require-hashes -r install/python/requirements.txt"} {
		if !strings.Contains(jupyterHelp(cluster), want) {
			t.Errorf("jupyterHelp on a cluster lacks %q:\n%s", want, jupyterHelp(cluster))
		}
	}
	for _, h := range []string{goHelp(cluster), jupyterHelp(cluster)} {
		if strings.Contains(h, "apt-get") || strings.Contains(h, "sudo") {
			t.Errorf("help for a non-Debian machine mentions apt-get or sudo:\n%s", h)
		}
	}
	plain := system{}
	if h := goHelp(plain); strings.Contains(h, "module") || strings.Contains(h, "conda") || !strings.Contains(h, "curl -LO") {
		t.Errorf("goHelp on a plain machine:\n%s", h)
	}
	if h := jupyterHelp(system{Debian: true}); !strings.Contains(h, "apt-get install jupyter-notebook") {
		t.Errorf("jupyterHelp on Debian should give the apt-get line too:\n%s", h)
	}
}

// TestIdenticalForeignFileIsNotAdopted: a file someone else put there that happens to hold exactly what
// gonbgpu would write is used as it is, but not recorded, so uninstall leaves it.
func TestIdenticalForeignFileIsNotAdopted(t *testing.T) {
	data := t.TempDir()
	kdir := filepath.Join(data, "kernels", "gonbgpu")
	theirs := filepath.Join(kdir, "bin", "goimports")
	os.MkdirAll(filepath.Dir(theirs), 0o755)
	os.WriteFile(theirs, []byte("goimports"), 0o755)
	m := fakeInstall(t, kdir)
	if verb, err := m.write("bin/goimports", []byte("goimports"), 0o755); err != nil || verb != "unchanged" {
		t.Fatalf("write: %q %v", verb, err)
	}
	if _, ok := m.Files["bin/goimports"]; ok {
		t.Fatalf("a file gonbgpu did not write was recorded as its own")
	}
	m.save()
	var out bytes.Buffer
	if err := Uninstall(Options{DataDir: data, Out: &out}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(theirs); err != nil {
		t.Fatalf("uninstall deleted %s, which gonbgpu never wrote", theirs)
	}
}
