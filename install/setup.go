package install

import (
	"fmt"
	"io"
	"os/exec"
	"strings"
)

// Requirement is a system package `make run` and `make test` need, with how to tell it is present.
type Requirement struct {
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

func fileExists(path string) func() bool {
	return func() bool { return exec.Command("test", "-e", path).Run() == nil }
}

// Requirements lists what the notebooks, the CLI and the tests need from the system.
var Requirements = []Requirement{
	{"jupyter-notebook", "the notebook server", commandExists("jupyter-notebook")},
	{"jupyter-client", "kernelspecs", commandExists("jupyter-kernelspec")},
	{"python3-nbclient", "headless execution", pythonModule("nbclient")},
	{"jupyter-nbconvert", "headless execution and HTML export", commandExists("jupyter-nbconvert")},
	{"python3-numpy", "the numpy cross-checks of chapter 1", pythonModule("numpy")},
	{"dataset-fashion-mnist", "the embedded default dataset", fileExists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")},
}

// TestRequirements are needed by the tests only: `gonbgpu setup --tests` (which `make test` runs) installs
// them too, while `make run` and `make install-kernel` (plain `gonbgpu setup`) do not ask for them.
var TestRequirements = []Requirement{
	{"chromium", "the headless browser of the browser test (make test-browser)", fileExists("/usr/bin/chromium")},
	{"python3-torchvision", "PyTorch's ONNX export checked against vision/pretrained (pulls python3-torch)", pythonModule("torchvision")},
}

// Setup makes sure the system packages of [Requirements] are there: it installs the missing ones with
// apt-get when running as root on Debian/Ubuntu, and otherwise fails with the list and the command to run.
func Setup(w io.Writer) error { return setup(w, Requirements) }

// SetupTests is [Setup] for [Requirements] and [TestRequirements] together.
func SetupTests(w io.Writer) error {
	return setup(w, append(append([]Requirement{}, Requirements...), TestRequirements...))
}

func setup(w io.Writer, reqs []Requirement) error {
	var missing []Requirement
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
	if CanUseApt() {
		fmt.Fprintf(w, "gonbgpu setup: installing %s\n", strings.Join(names, " "))
		if err := AptInstall(w, names...); err != nil {
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
	fmt.Fprintf(&b, "Install them (as root: apt-get install %s),\n", strings.Join(names, " "))
	fmt.Fprintf(&b, "or Jupyter with pip: python3 -m pip install --user notebook nbclient nbconvert numpy\n")
	fmt.Fprintf(&b, "(without the dataset package, `gonbgpu train` downloads Fashion-MNIST when online, or reads --data DIR)")
	return fmt.Errorf("%s", b.String())
}
