package installer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// JupyterPackages are Debian's packages that give a notebook server, headless execution and numpy
// (which the first chapter compares against).
var JupyterPackages = []string{"jupyter-notebook", "jupyter-client", "python3-nbclient", "jupyter-nbconvert", "python3-numpy"}

// jupyter is a found Jupyter installation.
type jupyter struct {
	path string // the `jupyter` command
}

func findJupyter() (*jupyter, error) {
	p, err := exec.LookPath("jupyter")
	if err != nil {
		return nil, err
	}
	return &jupyter{path: p}, nil
}

// run runs `jupyter args…` with a time limit and returns its standard output.
func (j *jupyter) run(args ...string) ([]byte, error) {
	cmd := exec.Command(j.path, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.Output(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		<-done
		return nil, fmt.Errorf("`jupyter %s` did not answer in 2 minutes", strings.Join(args, " "))
	}
	if err != nil {
		return nil, fmt.Errorf("`jupyter %s` failed: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// ensureJupyter finds Jupyter, or installs it with apt-get when allowed (root on Debian/Ubuntu), or fails
// with the command the user should run.
func ensureJupyter(o *Options) (*jupyter, error) {
	if j, err := findJupyter(); err == nil {
		o.step("jupyter", "found %s", j.path)
		return j, nil
	}
	if !o.NoSystemPackages && canUseApt() {
		o.step("jupyter", "not found; installing Debian packages %s", strings.Join(JupyterPackages, " "))
		if err := aptInstall(o.out(), JupyterPackages...); err != nil {
			return nil, err
		}
		if j, err := findJupyter(); err == nil {
			o.step("jupyter", "installed %s", j.path)
			return j, nil
		}
		return nil, fmt.Errorf("gonbgpu install: apt-get installed %s but `jupyter` is still not on PATH", strings.Join(JupyterPackages, " "))
	}
	return nil, errors.New("gonbgpu install: Jupyter was not found on PATH.\n" + strings.TrimRight(jupyterHelp(detectSystem()), "\n"))
}

// canUseApt reports whether system packages can be installed here: running as root on Debian or Ubuntu.
func canUseApt() bool {
	if os.Geteuid() != 0 {
		return false
	}
	if _, err := os.Stat("/etc/debian_version"); err != nil {
		return false
	}
	_, err := exec.LookPath("apt-get")
	return err == nil
}

// aptInstall installs Debian packages that are missing (`apt-get update` first, once).
func aptInstall(w interface{ Write([]byte) (int, error) }, pkgs ...string) error {
	var missing []string
	for _, p := range pkgs {
		if !debInstalled(p) {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	run := func(args ...string) error {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			tail := string(out)
			if len(tail) > 2000 {
				tail = tail[len(tail)-2000:]
			}
			return fmt.Errorf("apt-get %s failed: %v\n%s", strings.Join(args, " "), err, tail)
		}
		return nil
	}
	if err := run("update"); err != nil {
		return err
	}
	return run(append([]string{"install", "-y", "--no-install-recommends"}, missing...)...)
}

func debInstalled(pkg string) bool {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", pkg).Output()
	return err == nil && strings.Contains(string(out), "install ok installed")
}

// resolveDataDir picks the Jupyter data folder: Prefix, then DataDir, then $JUPYTER_DATA_DIR, then what
// `jupyter --data-dir` says, then ~/.local/share/jupyter.
func resolveDataDir(o *Options, j *jupyter) (dir, how string, err error) {
	abs := func(p string) (string, error) {
		a, err := filepath.Abs(p)
		if err != nil {
			return "", fmt.Errorf("gonbgpu: bad folder %q: %w", p, err)
		}
		return a, nil
	}
	switch {
	case o.Prefix != "":
		// The prefix itself must exist: a mistyped --prefix should not silently grow a new tree.
		if fi, err := os.Stat(o.Prefix); err != nil || !fi.IsDir() {
			return "", "", fmt.Errorf("gonbgpu: --prefix %s: no such folder (it must exist, e.g. a conda environment's root)", o.Prefix)
		}
		d, err := abs(filepath.Join(o.Prefix, "share", "jupyter"))
		return d, "--prefix " + o.Prefix, err
	case o.DataDir != "":
		d, err := abs(o.DataDir)
		return d, "data dir given", err
	case os.Getenv("JUPYTER_DATA_DIR") != "":
		d, err := abs(os.Getenv("JUPYTER_DATA_DIR"))
		return d, "$JUPYTER_DATA_DIR", err
	}
	if j != nil {
		if out, err := j.run("--data-dir"); err == nil {
			if d := strings.TrimSpace(string(out)); d != "" {
				return d, "user's Jupyter data dir", nil
			}
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", "", fmt.Errorf("gonbgpu: no home folder to install into (%v); use --prefix DIR", err)
	}
	return filepath.Join(home, ".local", "share", "jupyter"), "user's Jupyter data dir", nil
}

// checkListed asks Jupyter for its kernelspecs and checks that gonbgpu is there, at kdir.
func checkListed(o *Options, j *jupyter, kdir string) error {
	out, err := listKernelspecs(j, o)
	if err != nil {
		return fmt.Errorf("gonbgpu install: checking with `jupyter kernelspec list`: %w", err)
	}
	got, ok := out["gonbgpu"]
	if !ok {
		return fmt.Errorf("gonbgpu install: wrote %s but `jupyter kernelspec list` does not show gonbgpu: "+
			"this Jupyter does not search that folder (set JUPYTER_PATH, or install with --user)", kdir)
	}
	if filepath.Clean(got) != filepath.Clean(kdir) {
		o.step("check", "Jupyter lists gonbgpu at %s, which shadows %s", got, kdir)
		return nil
	}
	o.step("check", "`jupyter kernelspec list` shows gonbgpu at %s", got)
	return nil
}

// listKernelspecs returns kernel name → folder as Jupyter sees them for this install's data folder.
func listKernelspecs(j *jupyter, o *Options) (map[string]string, error) {
	args := []string{"kernelspec", "list", "--json"}
	cmd := exec.Command(j.path, args...)
	cmd.Env = os.Environ()
	// Make Jupyter search the folder we installed into, however it was chosen.
	if dir, _, err := resolveDataDir(o, nil); err == nil {
		if o.Prefix != "" || o.DataDir != "" {
			cmd.Env = append(cmd.Env, "JUPYTER_PATH="+dir+string(os.PathListSeparator)+os.Getenv("JUPYTER_PATH"))
		}
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	var v struct {
		Kernelspecs map[string]struct {
			ResourceDir string `json:"resource_dir"`
		} `json:"kernelspecs"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return nil, fmt.Errorf("unexpected output: %w", err)
	}
	res := map[string]string{}
	for k, s := range v.Kernelspecs {
		res[k] = s.ResourceDir
	}
	return res, nil
}
