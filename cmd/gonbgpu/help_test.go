package main

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestHelpExitsZero: `gonbgpu COMMAND --help` and `-h` print the usage with an example and exit 0, for
// every command; bool flags read as bools, and uninstall's flags say "remove from".
func TestHelpExitsZero(t *testing.T) {
	for name := range commands {
		for _, flag := range []string{"--help", "-h"} {
			stdout, stderr, code := gonbgpu(t, nil, name, flag)
			out := stdout + stderr
			if code != 0 {
				t.Errorf("gonbgpu %s %s: exit %d\n%s", name, flag, code, out)
			}
			if !strings.Contains(out, "Usage: gonbgpu "+name) || !strings.Contains(out, "Example:\n  ") {
				t.Errorf("gonbgpu %s %s: no usage with an example:\n%s", name, flag, out)
			}
			if strings.Contains(out, "flag: help requested") {
				t.Errorf("gonbgpu %s %s prints an error:\n%s", name, flag, out)
			}
		}
		if _, _, code := gonbgpu(t, nil, "help", name); code != 0 {
			t.Errorf("gonbgpu help %s: exit %d", name, code)
		}
	}
	_, installHelp, _ := gonbgpu(t, nil, "install", "--help")
	if !strings.Contains(installHelp, "\n  -user\n") {
		t.Errorf("-user should read as a bool flag:\n%s", installHelp)
	}
	_, uninstallHelp, _ := gonbgpu(t, nil, "uninstall", "--help")
	if strings.Contains(uninstallHelp, "install into") || !strings.Contains(uninstallHelp, "remove from") {
		t.Errorf("uninstall's flags should say what they remove from:\n%s", uninstallHelp)
	}
}

// TestInstallOneTarget: --user, --prefix and --data-dir each name the kernel's Jupyter folder; two of
// them, or --user=false alone, are one clear error naming the flags, before anything is installed or
// removed. (The user's folder is a temporary one here: a broken check must not install for real.)
func TestInstallOneTarget(t *testing.T) {
	dir, user := t.TempDir(), t.TempDir()
	env := []string{"JUPYTER_DATA_DIR=" + user, "HOME=" + user}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"install", "--user", "--prefix", dir}, []string{"--prefix and --user"}},
		{[]string{"install", "--data-dir", dir, "--prefix", dir}, []string{"--data-dir and --prefix"}},
		{[]string{"uninstall", "--user", "--data-dir", dir}, []string{"--data-dir and --user"}},
		{[]string{"uninstall", "--user=false", "--prefix", dir, "--data-dir", dir}, []string{"--data-dir, --prefix and --user"}},
		{[]string{"install", "--user=false"}, []string{"--user=false", "--prefix DIR or --data-dir DIR"}},
	} {
		_, stderr, code := gonbgpu(t, env, c.args...)
		oneLineError(t, c.args, stderr, code, c.want...)
	}
	for _, d := range []string{dir, user} {
		if entries, _ := os.ReadDir(d); len(entries) > 0 {
			t.Errorf("a refused install wrote into %s: %v", d, entries)
		}
	}
}

// TestDataFetchCommand runs `gonbgpu data fetch fashion-mnist --mirror URL --dir DIR` against a loopback
// mirror of Debian's files, then against a corrupted copy, which is refused with one line.
func TestDataFetchCommand(t *testing.T) {
	files := map[string][]byte{}
	for _, n := range []string{"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"} {
		data, err := os.ReadFile(filepath.Join("/usr/share/datasets/fashion-mnist", n))
		if err != nil {
			t.Fatalf("%v (apt-get install dataset-fashion-mnist; `make test` does)", err)
		}
		files[n] = data
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var corrupt atomic.Bool // set by the test, read by the server's goroutines
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := files[filepath.Base(r.URL.Path)]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if corrupt.Load() && strings.HasPrefix(filepath.Base(r.URL.Path), "t10k-labels") {
			data = append([]byte(nil), data...)
			data[len(data)/3] ^= 1
		}
		w.Write(data)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	url := "http://" + l.Addr().String() + "/fm"

	dir := t.TempDir()
	stdout, stderr, code := gonbgpu(t, nil, "data", "fetch", "fashion-mnist", "--mirror", url, "--dir", dir)
	if code != 0 || !strings.Contains(stdout, filepath.Join(dir, "fashion-mnist")) {
		t.Fatalf("fetch: exit %d\n%s%s", code, stdout, stderr)
	}
	// GONBGPU_DATA is the default folder.
	corrupt.Store(true)
	env := t.TempDir()
	_, stderr, code = gonbgpu(t, []string{"GONBGPU_DATA=" + env}, "data", "fetch", "--mirror", url, "fashion-mnist")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1] // the error: one line, after the progress of the files that verified
	if code == 0 || !strings.HasPrefix(last, "gonbgpu data fetch fashion-mnist: ") || !strings.Contains(last, "t10k-labels-idx1-ubyte.gz") ||
		!strings.Contains(last, "SHA-256 mismatch") || !strings.Contains(last, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5") {
		t.Fatalf("a corrupted copy: exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(env, "fashion-mnist", "t10k-labels-idx1-ubyte.gz")); !os.IsNotExist(err) {
		t.Errorf("the corrupted file was kept")
	}
	if _, _, code := gonbgpu(t, nil, "data", "fetch", "imagenet"); code == 0 {
		t.Errorf("an unknown dataset was accepted")
	}
}

// TestDevicesPrintsRealPaths: where no site-packages exist, `gonbgpu devices` names the folder it
// searched, never a made-up python3.X.
func TestDevicesPrintsRealPaths(t *testing.T) {
	home, venv := t.TempDir(), t.TempDir()
	stdout, stderr, code := gonbgpu(t, []string{"HOME=" + home, "VIRTUAL_ENV=" + venv, "CUDA_VISIBLE_DEVICES=", "PJRT_PLUGIN_LIBRARY_PATH="}, "devices", "--plugins")
	out := stdout + stderr
	if code != 0 {
		t.Fatalf("gonbgpu devices: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "python3.X") {
		t.Errorf("devices prints a made-up path:\n%s", out)
	}
	if !strings.Contains(out, filepath.Join(venv, "lib")) {
		t.Errorf("devices does not name %s, the folder it searched:\n%s", filepath.Join(venv, "lib"), out)
	}
}

// TestStrayArgumentsAreRefused: a word that is not a flag (a mistyped `--epochs 3` as `epochs 3`) stops a
// command that takes no arguments before it does anything, with one line that names it.
func TestStrayArgumentsAreRefused(t *testing.T) {
	for _, name := range []string{"train", "install", "uninstall", "devices", "bench", "setup"} {
		_, stderr, code := gonbgpu(t, []string{"GOMLX_BACKEND=go"}, name, "epochs", "3")
		if code == 0 || !strings.Contains(stderr, `unexpected arguments ["epochs" "3"]`) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("gonbgpu %s epochs 3: exit %d, want one line naming the arguments:\n%s", name, code, stderr)
		}
	}
}

// TestDevicesJSONAndConfig: `gonbgpu devices --json` is the choice as data (with the plugins found as a
// list, never null), `--config` the GoMLX configuration alone (what gpu-check hands the GPU tests), and
// asking for both is one error.
func TestDevicesJSONAndConfig(t *testing.T) {
	env := []string{"GOMLX_BACKEND=go", "GONBGPU_REQUIRE_GPU=0"}
	stdout, stderr, code := gonbgpu(t, env, "devices", "--json")
	var got struct {
		Backend, Config, Reason string
		Found                   []json.RawMessage `json:"cuda_plugins_found"`
		Devices                 []struct{ Kind, Source string }
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil || got.Backend != "go" || got.Config != "go" ||
		!strings.Contains(got.Reason, "GOMLX_BACKEND=go") || got.Found == nil || len(got.Devices) == 0 ||
		got.Devices[len(got.Devices)-1].Source != "host" {
		t.Fatalf("devices --json: exit %d, %+v\n%s\n%s", code, got, stdout, stderr)
	}
	if stdout, _, code := gonbgpu(t, env, "devices", "--config"); code != 0 || stdout != "go\n" {
		t.Errorf("devices --config: exit %d, %q", code, stdout)
	}
	if _, stderr, code := gonbgpu(t, env, "devices", "--config", "--json"); code == 0 || !strings.Contains(stderr, "give one") {
		t.Errorf("--config with --json: exit %d, %s", code, stderr)
	}
}
