package pretrained

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gonbgpu/gonbgpu/internal/testutil"
)

// requirePython fails the test (it does not skip it: `make test` installs these, through `gonbgpu setup
// --tests`) when /usr/bin/python3 cannot import modules.
func requirePython(t *testing.T, modules, debian string) string {
	t.Helper()
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import "+modules).CombinedOutput(); err != nil {
		t.Fatalf("needs %s with %s: %v\n%s(`make test` installs them: gonbgpu setup --tests; or apt-get install %s)", python, modules, err, out, debian)
	}
	return python
}

// variant is one entry of make_variants.py's manifest.json.
type variant struct {
	Name, What, Model string
	Folded            bool
	Logits, Ref       string
	Error             []string
}

// TestExportVariants imports ResNets written the way exporters really write them (make_variants.py:
// torch.onnx.export with opsets 7 to 17, in eval, training and preserve modes, with and without constant
// folding, initializers as inputs, untrained and partly trained weights; and the onnx package's rewrites
// of such files for what PyTorch 1.13 does not write: Identity chains, Reshape/MatMul heads, opset 18,
// Pad nodes, auto_pad, float16 weights). Each must give PyTorch's logits (or, for float16 weights, the
// same graph's in float32 with the weights rounded, evaluated by onnx-gomlx) within 1e-4; the files that
// are not importable must give the one-line error the manifest says.
func TestExportVariants(t *testing.T) {
	python := requirePython(t, "torch, torchvision, onnx", "python3-torchvision python3-onnx")
	dir := t.TempDir()
	out, err := exec.Command(python, "testdata/make_variants.py", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("make_variants.py: %v\n%s", err, out)
	}
	t.Logf("%s", out)
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var variants []variant
	if err := json.Unmarshal(raw, &variants); err != nil {
		t.Fatal(err)
	}
	if len(variants) < 30 {
		t.Fatalf("manifest.json lists %d files; make_variants.py writes 30 or more", len(variants))
	}
	b := testutil.GoBackend(t)
	const batch, size, classes = 2, 64, 10
	nchw := readF32(t, filepath.Join(dir, "input.f32"))
	nhwc := make([]float32, len(nchw))
	for n := range batch {
		for c := range 3 {
			for p := range size * size {
				nhwc[(n*size*size+p)*3+c] = nchw[(n*3+c)*size*size+p]
			}
		}
	}
	// Many files hold the same weights (one model exported with other options): the network runs once
	// per distinct set of imported variables, and each file's logits are compared with its own reference.
	logitsOf := map[[32]byte][]float32{}
	for _, v := range variants {
		t.Run(v.Name, func(t *testing.T) {
			t.Log(v.What)
			file := filepath.Join(dir, v.Name+".onnx")
			m, err := Load(file, Options{NumClasses: classes, KeepHead: true, InputSize: size})
			if v.Error != nil {
				if err == nil {
					t.Fatalf("no error")
				}
				msg := err.Error()
				t.Log(msg)
				for _, want := range append([]string{file}, v.Error...) {
					if !strings.Contains(msg, want) {
						t.Errorf("error %q should say %q", msg, want)
					}
				}
				if strings.Contains(msg, "\n") {
					t.Errorf("not one line: %q", msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.Model != v.Model || m.FoldedBN != v.Folded || m.Width != 1.0/16 || m.NumClasses != classes || m.Weights.InputSize != size {
				t.Fatalf("read %s (input size %d), want a %s, folded %v", m.Weights, m.InputSize, v.Model, v.Folded)
			}
			var want []float32
			if v.Ref != "" {
				ref, err := os.ReadFile(filepath.Join(dir, v.Ref))
				if err != nil {
					t.Fatal(err)
				}
				want = onnxLogits(t, b, ref, tensors.FromFlatDataAndDimensions(nchw, batch, 3, size, size))
			} else {
				want = readF32(t, filepath.Join(dir, v.Logits))
			}
			if s := stdDev(want); s < 0.05 {
				t.Fatalf("reference logits have std %g: the comparison would prove little", s)
			}
			key := hashVars(m.Weights)
			got, ok := logitsOf[key]
			if !ok {
				got = gonbgpuLogits(t, b, m, m.Builder, tensors.FromFlatDataAndDimensions(nhwc, batch, size, size, 3))
				logitsOf[key] = got
			}
			// 1e-4, relative to the logits' spread where it is over 1 (an untrained ResNet-50's reach ±500).
			d, tol := maxAbsDiff(got, want), 1e-4*max(1, stdDev(want))
			t.Logf("max |gonbgpu - reference| = %.2g (logits std %.3g)", d, stdDev(want))
			if d > tol {
				t.Errorf("logits differ from the reference by %g > %g\n got %v\nwant %v", d, tol, got, want)
			}
		})
	}
}

// hashVars identifies a set of imported variables: names, dimensions and values.
func hashVars(w *Weights) [32]byte {
	h := sha256.New()
	for _, path := range slices.Sorted(maps.Keys(w.vars)) {
		t := w.vars[path]
		h.Write([]byte(path))
		for _, d := range t.dims {
			h.Write(binary.LittleEndian.AppendUint64(nil, uint64(d)))
		}
		buf := make([]byte, 0, 4*len(t.data))
		for _, x := range t.data {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(x))
		}
		h.Write(buf)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}
