package bench

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// The PyTorch twins of ConvBench and TrainBench: the same convolutions and the same ResNet-20 training
// step (Adam, batch 64, 28×28×1), timed the same way, so that `gonbgpu bench --compare` prints PyTorch's
// figures beside gonbgpu's from the same run on the same machine.
var (
	//go:embed torch_conv.py
	torchConvScript []byte
	//go:embed torch_resnet20.py
	torchTrainScript []byte
)

// TorchResult is what the PyTorch twins measured.
type TorchResult struct {
	Version string
	// ConvMillis is the forward+backward time of each of ConvShapes, the faster of PyTorch's two memory
	// formats (NCHW, channels_last); ConvFormat says which, shape by shape.
	ConvMillis []float64
	ConvFormat []string
	Train      TrainResult
	// TrainFormat is the memory format of the faster training step.
	TrainFormat string
}

var (
	torchConvLine  = regexp.MustCompile(`^conv3x3 b=(\d+) h=(\d+) c=(\d+): ([\d.]+) ms fwd\+bwd\s+\[torch (\S+)\]`)
	torchTrainLine = regexp.MustCompile(`img/s, ([\d.]+) ms/step, first step ([\d.]+) s\s+\[torch (\S+) CPU, \d+ threads, (\S+?);`)
	torchVersion   = regexp.MustCompile(`^# torch (\S+),`)
)

// TorchPython returns a python3 that imports torch: Debian's /usr/bin/python3 (python3-torch), else the
// python3 on PATH; "" and why when neither does.
func TorchPython() (string, string) {
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		if path, err := exec.LookPath(py); err == nil && exec.Command(path, "-c", "import torch").Run() == nil {
			return path, ""
		}
	}
	return "", "no python3 here imports torch (Debian: apt-get install python3-torch)"
}

// RunTorch runs the PyTorch twins with python at threads threads, and reads their figures.
func RunTorch(ctx context.Context, python string, threads int) (TorchResult, error) {
	dir, err := os.MkdirTemp("", "gonbgpu-torch-")
	if err != nil {
		return TorchResult{}, err
	}
	defer os.RemoveAll(dir)
	run := func(name string, script []byte, args ...string) (string, error) {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, script, 0o644); err != nil {
			return "", err
		}
		cmd := exec.CommandContext(ctx, python, append([]string{path, "--threads", strconv.Itoa(threads)}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			msg := err.Error()
			if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
				lines := strings.Split(strings.TrimSpace(string(ee.Stderr)), "\n")
				msg = lines[len(lines)-1]
			}
			return "", fmt.Errorf("PyTorch twin %s: %s", name, msg)
		}
		return string(out), nil
	}
	var r TorchResult
	out, err := run("torch_conv.py", torchConvScript)
	if err != nil {
		return r, err
	}
	best := map[string]float64{}
	format := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if m := torchVersion.FindStringSubmatch(line); m != nil {
			r.Version = m[1]
		}
		if m := torchConvLine.FindStringSubmatch(line); m != nil {
			key := m[1] + "/" + m[2] + "/" + m[3]
			ms, _ := strconv.ParseFloat(m[4], 64)
			if old, ok := best[key]; !ok || ms < old {
				best[key], format[key] = ms, m[5]
			}
		}
	}
	for _, s := range ConvShapes {
		key := fmt.Sprintf("%d/%d/%d", s.B, s.H, s.C)
		ms, ok := best[key]
		if !ok {
			return r, fmt.Errorf("the PyTorch convolution twin printed no figure for b=%d h=%d c=%d:\n%s", s.B, s.H, s.C, out)
		}
		r.ConvMillis, r.ConvFormat = append(r.ConvMillis, ms), append(r.ConvFormat, format[key])
	}
	for _, extra := range [][]string{nil, {"--channels-last"}} {
		out, err := run("torch_resnet20.py", torchTrainScript, extra...)
		if err != nil {
			return r, err
		}
		m := torchTrainLine.FindStringSubmatch(out)
		if m == nil {
			return r, fmt.Errorf("the PyTorch training twin printed no figure:\n%s", out)
		}
		ms, _ := strconv.ParseFloat(m[1], 64)
		first, _ := strconv.ParseFloat(m[2], 64)
		if tr := (TrainResult{ImagesPerSecond: 64 / ms * 1000, StepMillis: ms, FirstSeconds: first}); r.Train.StepMillis == 0 || ms < r.Train.StepMillis {
			r.Train, r.TrainFormat = tr, m[4]
		}
		if r.Version == "" {
			r.Version = m[3]
		}
	}
	return r, nil
}
