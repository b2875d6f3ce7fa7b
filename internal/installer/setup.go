package installer

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/gonbgpu/gonbgpu/vision/data/catalog"
)

// requirement is a system package `make run` and `make test` need, with how to tell it is present.
type requirement struct {
	Debian string // Debian package name
	Why    string // what it is for
	Check  func() bool
}

func commandExists(name string) func() bool {
	return func() bool { _, err := exec.LookPath(name); return err == nil }
}

func pythonModule(mod string) func() bool {
	return func() bool {
		for _, py := range []string{"/usr/bin/python3", "python3"} {
			if exec.Command(py, "-c", "import "+mod).Run() == nil {
				return true
			}
		}
		return false
	}
}

// fashionMNISTFound: fetched into $GONBGPU_DATA (or the cache), or Debian's package.
func fashionMNISTFound() bool {
	_, _, err := catalog.Locate("fashion-mnist", "", catalog.FromEnvironment())
	return err == nil
}

func fileExists(path string) func() bool {
	return func() bool { return exec.Command("test", "-e", path).Run() == nil }
}

// requirements lists what the notebooks, the CLI and the tests need from the system.
var requirements = []requirement{
	{"jupyter-notebook", "the notebook server", commandExists("jupyter-notebook")},
	{"jupyter-client", "kernelspecs", commandExists("jupyter-kernelspec")},
	{"python3-nbclient", "headless execution", pythonModule("nbclient")},
	{"jupyter-nbconvert", "headless execution and HTML export", commandExists("jupyter-nbconvert")},
	{"python3-numpy", "the numpy cross-checks of chapter 1", pythonModule("numpy")},
	{"dataset-fashion-mnist", "the notebooks' dataset (or `gonbgpu data fetch fashion-mnist`)", fashionMNISTFound},
}

// testRequirements are needed by the tests only: `gonbgpu setup --tests` (which `make test` runs) installs
// them too, while `make run` and `make install-kernel` (plain `gonbgpu setup`) do not ask for them.
var testRequirements = []requirement{
	{"chromium", "the headless browser of the browser test (make test-browser)", fileExists("/usr/bin/chromium")},
	{"python3-torchvision", "PyTorch's ONNX export checked against vision/pretrained (pulls python3-torch)", pythonModule("torchvision")},
	{"python3-onnx", "rewrites PyTorch's ONNX files into what other exporters write, for vision/pretrained's tests", pythonModule("onnx")},
}

// Setup makes sure the system packages of [requirements] are there: it installs the missing ones with
// apt-get when running as root on Debian/Ubuntu, and otherwise fails with the list and the command to run.
func Setup(w io.Writer) error { return setup(w, requirements) }

// SetupTests is [Setup] for [requirements] and [testRequirements] together.
func SetupTests(w io.Writer) error {
	return setup(w, append(append([]requirement{}, requirements...), testRequirements...))
}

func setup(w io.Writer, reqs []requirement) error {
	var missing []requirement
	for _, r := range reqs {
		if !r.Check() {
			missing = append(missing, r)
		}
	}
	if len(missing) == 0 {
		fmt.Fprintln(w, "gonbgpu setup: system packages present")
		return nil
	}
	names := make([]string, len(missing))
	for i, r := range missing {
		names[i] = r.Debian
	}
	if canUseApt() {
		fmt.Fprintf(w, "gonbgpu setup: installing %s\n", strings.Join(names, " "))
		if err := aptInstall(w, names...); err != nil {
			return fmt.Errorf("gonbgpu setup: %w", err)
		}
		for _, r := range missing {
			if !r.Check() {
				return fmt.Errorf("gonbgpu setup: installed %s, but %s is still missing", r.Debian, r.Why)
			}
		}
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "gonbgpu setup: missing:\n")
	for _, r := range missing {
		fmt.Fprintf(&b, "  - %s (%s)\n", r.Debian, r.Why)
	}
	sys := detectSystem()
	fmt.Fprintf(&b, "%s", jupyterHelp(sys))
	for _, r := range missing {
		if r.Debian == "dataset-fashion-mnist" {
			fmt.Fprintf(&b, "The dataset, on a machine with internet access (a login node):\n    gonbgpu data fetch fashion-mnist   # into $%s, default %s\n", catalog.DirEnv, catalog.DefaultDir())
		}
	}
	return fmt.Errorf("%s", strings.TrimRight(b.String(), "\n"))
}

// system is the kind of machine, for the install commands a message suggests.
type system struct {
	Debian  bool // /etc/debian_version exists
	Root    bool
	Modules bool // environment modules (Lmod or Tcl) are set up: a cluster
	Conda   bool // a conda environment is active, or conda is on PATH
}

// detectSystem looks at the machine the way the messages need it.
func detectSystem() system {
	var s system
	_, err := os.Stat("/etc/debian_version")
	s.Debian = err == nil
	s.Root = os.Geteuid() == 0
	s.Modules = os.Getenv("MODULESHOME") != "" || os.Getenv("LMOD_CMD") != "" || os.Getenv("LMOD_DIR") != ""
	_, err = exec.LookPath("conda")
	s.Conda = os.Getenv("CONDA_PREFIX") != "" || err == nil
	return s
}

// goHelp says how to get Go on PATH on this kind of system, without root where there is none. Any Go
// from 1.21 on is enough: it downloads go.mod's toolchain by itself.
func goHelp(s system) string {
	var b strings.Builder
	b.WriteString("Get Go (any version >= 1.21: it fetches the toolchain go.mod names by itself), then run the command again:\n")
	if s.Modules {
		b.WriteString("    module avail go && module load go          # the cluster's Go, if it has one\n")
	}
	if s.Conda {
		b.WriteString("    conda install -c conda-forge go            # into the active conda environment\n")
	}
	if s.Debian && s.Root {
		b.WriteString("    apt-get install golang-go                  # Debian/Ubuntu, as root\n")
	}
	fmt.Fprintf(&b, "    # no root needed: Go's release tarball into your home folder\n")
	fmt.Fprintf(&b, "    curl -LO https://go.dev/dl/go1.27.3.linux-%s.tar.gz\n", runtime.GOARCH)
	fmt.Fprintf(&b, "    mkdir -p $HOME/.local && tar -C $HOME/.local -xzf go1.27.3.linux-%s.tar.gz\n", runtime.GOARCH)
	b.WriteString("    export PATH=$HOME/.local/go/bin:$PATH       # and add this line to ~/.bashrc\n")
	return b.String()
}

// jupyterHelp says how to get Jupyter (notebook, nbclient, nbconvert, numpy) on this kind of system: the
// checkout's install/python/requirements.txt, every package pinned by hash, with pip --user or into a
// conda environment.
func jupyterHelp(s system) string {
	var b strings.Builder
	b.WriteString("Install Jupyter (JupyterLab, Notebook, nbclient, nbconvert, numpy: install/python/requirements.txt in the\n" +
		"gonbgpu checkout, every package pinned), then run the command again:\n")
	if s.Modules {
		b.WriteString("    module avail python anaconda                 # a cluster's Python or Anaconda module, then one of:\n")
	}
	if s.Conda {
		b.WriteString("    conda create -n gonbgpu -c conda-forge python=3.11 pip && conda activate gonbgpu\n")
		b.WriteString("    python3 -m pip install --require-hashes -r install/python/requirements.txt   # into that conda environment\n")
	}
	b.WriteString("    python3 -m pip install --user --require-hashes -r install/python/requirements.txt   # no root needed\n")
	b.WriteString("    export PATH=$HOME/.local/bin:$PATH           # where pip --user puts jupyter\n")
	if s.Debian {
		fmt.Fprintf(&b, "    apt-get install %s   # Debian/Ubuntu, as root\n", strings.Join(JupyterPackages, " "))
	}
	return b.String()
}
