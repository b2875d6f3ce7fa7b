package pretrained

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gonbgpu/gonbgpu/internal/testutil"
)

// The PyTorch fixtures (testdata/make_fixtures.py): torchvision's own ResNet-18 and ResNet-50 classes,
// 16× narrower, random weights, exported by torch.onnx.export, with an input batch and PyTorch's logits.

func readF32(t *testing.T, path string) []float32 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out
}

// checkSums verifies dir's files against its SHA256SUMS.
func checkSums(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("SHA256SUMS: bad line %q", sc.Text())
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256(data); hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: SHA-256 %x, SHA256SUMS says %s", name, h, sum)
		}
		n++
	}
	if n < 7 {
		t.Errorf("SHA256SUMS lists %d files, want 7", n)
	}
}

// checkTorchFixtures: gonbgpu's logits for each model equal PyTorch's and the ONNX graph's (onnx-gomlx)
// within 1e-4.
func checkTorchFixtures(t *testing.T, dir string) {
	b := testutil.GoBackend(t)
	const batch, size, classes = 2, 64, 10
	nchwData := readF32(t, filepath.Join(dir, "input.f32"))
	if len(nchwData) != batch*3*size*size {
		t.Fatalf("input.f32 has %d values", len(nchwData))
	}
	nhwcData := make([]float32, len(nchwData))
	for n := range batch {
		for c := range 3 {
			for y := range size {
				for x := range size {
					nhwcData[((n*size+y)*size+x)*3+c] = nchwData[((n*3+c)*size+y)*size+x]
				}
			}
		}
	}
	for _, tc := range []struct {
		name, model string
		folded      bool
	}{{"resnet18_folded", "resnet18", true}, {"resnet18_bn", "resnet18", false}, {"resnet50_folded", "resnet50", true}} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, tc.name+".onnx")
			m, err := Load(file, Options{NumClasses: classes, KeepHead: true, InputSize: size})
			if err != nil {
				t.Fatal(err)
			}
			if m.Model != tc.model || m.FoldedBN != tc.folded || m.Width != 1.0/16 {
				t.Fatalf("read %s", m.Weights)
			}
			torchLogits := readF32(t, filepath.Join(dir, tc.name+".logits.f32"))
			if s := stdDev(torchLogits); s < 0.05 {
				t.Fatalf("PyTorch's logits have std %g: the comparison would prove little", s)
			}
			got := gonbgpuLogits(t, b, m, m.Builder, tensors.FromFlatDataAndDimensions(nhwcData, batch, size, size, 3))
			d := maxAbsDiff(got, torchLogits)
			t.Logf("max |gonbgpu - PyTorch| = %.2g (logits std %.3g)", d, stdDev(torchLogits))
			if d > 1e-4 {
				t.Errorf("gonbgpu's logits differ from PyTorch's by %g\n got %v\nwant %v", d, got, torchLogits)
			}
			contents, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			onnxOut := onnxLogits(t, b, contents, tensors.FromFlatDataAndDimensions(nchwData, batch, 3, size, size))
			if d := maxAbsDiff(onnxOut, torchLogits); d > 1e-4 {
				t.Errorf("the ONNX graph's logits (onnx-gomlx) differ from PyTorch's by %g", d)
			}
		})
	}
}

// TestTorchFixtures checks the committed fixtures (and their checksums).
func TestTorchFixtures(t *testing.T) {
	checkSums(t, "testdata")
	checkTorchFixtures(t, "testdata")
}

// TestTorchExportNow runs the fixtures' generator with the installed PyTorch (Debian's python3-torchvision,
// which `gonbgpu setup --tests` installs), so that a newer exporter's output is checked too. Without it
// the test fails: `make test` installs it.
func TestTorchExportNow(t *testing.T) {
	python := requirePython(t, "torch, torchvision", "python3-torchvision")
	dir := t.TempDir()
	out, err := exec.Command(python, "testdata/make_fixtures.py", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("make_fixtures.py: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	checkSums(t, dir)
	checkTorchFixtures(t, dir)
}
