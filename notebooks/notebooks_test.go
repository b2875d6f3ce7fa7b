// Package notebooks_test executes every notebook in this folder headless, through the gonbgpu kernelspec
// installed into a temporary Jupyter data dir, on the pure-Go backend, and checks what each one printed.
package notebooks_test

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/installer"
	"github.com/gonbgpu/gonbgpu/internal/ipynb"
	"github.com/gonbgpu/gonbgpu/internal/nbrun"
)

// check asserts a notebook's key facts from its executed outputs.
type check func(t *testing.T, nb *ipynb.Notebook, text string)

// checks holds one entry per notebook: a notebook without one fails, so none goes unchecked.
var checks = map[string]check{
	"00-setup-check.ipynb": func(t *testing.T, nb *ipynb.Notebook, text string) {
		mustContain(t, text, "built with "+pinnedVersions) // not the newer versions the module cache lists
		mustContain(t, text,
			"the gonbgpu kernel compiled and ran this cell",
			"gonbgpu: backend go",
			"setup check: x·xᵀ is correct",
			"square(12) = 144",
			`class="gonbgpu-tensor"`, "x·xᵀ: float32[2,2] on", // the tensor table rendered
			`class="gonbgpu-devices"`, "Memory used / total", // the device table rendered
			`class="gonbgpu-images"`, `<img src="data:image/png;base64,`, // the picture grid, inline PNGs
			`class="gonbgpu-figure"`, "<svg", // the plot, SVG
		)
		// The backend line: once per kernel session, as the text says, not once per cell.
		if n := strings.Count(text, "gonbgpu: backend "); n != 1 {
			t.Errorf("the backend line appears %d times, want once per session", n)
		}
	},
	"01-tensors-vs-numpy.ipynb": func(t *testing.T, nb *ipynb.Notebook, text string) {
		// Every cell that checks against numpy ends with a summary line; all must be "N/N as expected".
		re := regexp.MustCompile(`numpy agreement: (\d+)/(\d+) checks as expected \((\d+) equal, (\d+) deliberate`)
		total, equal, differ := 0, 0, 0
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			if m[1] != m[2] {
				t.Errorf("a cell's numpy checks did not all come out as expected: %s", m[0])
			}
			total += atoi(m[2])
			equal += atoi(m[3])
			differ += atoi(m[4])
		}
		if total < 40 || equal < 30 || differ < 5 {
			t.Errorf("too few numpy checks ran: %d (%d equal, %d differences)", total, equal, differ)
		}
		// float64's cost is the GPU's: about 2× on the data-centre GPUs students get (P100 to H100), 30–60×
		// only on consumer ones. A chapter that says "30 to 60 times slower on a GPU" is wrong on Discovery.
		var prose strings.Builder
		for _, c := range nb.Cells {
			if c.CellType == "markdown" {
				prose.WriteString(string(c.Source) + " ")
			}
		}
		if !regexp.MustCompile(`P100, V100, A100, H100\) have half as many float64 units`).MatchString(strings.Join(strings.Fields(prose.String()), " ")) {
			t.Errorf("chapter 1 must say float64 is about 2× slower on data-centre GPUs (P100, V100, A100, H100), 30–60× only on consumer GPUs")
		}
		if strings.Contains(text, "✗") {
			t.Errorf("a check came out wrong (✗ in the output)")
		}
		mustContain(t, text, "rank 0, shape []", "float32[2,2] on host + go:0", "GoMLX refuses: data types",
			"GoMLX refuses to build the graph: Slice", "same seed, same numbers: true; another seed, other numbers: true",
			"Value() of the matrix: [][]float32 [[2 4 6] [8 10 12]]")
		// Reading values: the text must match what the placement line printed.
		if m := mustMatch(t, text, `after reading its values, y is on: (\S+) \((reading made a host copy|no host copy)`); m != nil &&
			strings.Contains(m[1], "host") != (m[2] == "reading made a host copy") {
			t.Errorf("placement %q contradicts %q", m[1], m[2])
		}
		// Compiling: the first call of each shape measured against later calls.
		if got := len(regexp.MustCompile(`first call \(compile \+ run\) [0-9.]+ ms, later calls [0-9.]+ ms each`).FindAllString(text, -1)); got != 2 {
			t.Errorf("%d compile timings, want 2 (two shapes)", got)
		}
		mustPlot(t, text, 2)
	},
	"02-device-placement.ipynb": func(t *testing.T, nb *ipynb.Notebook, text string) {
		mustContain(t, text, "GPU available:", "host→device", `class="gonbgpu-devices"`, "MaterializeOnDevice(backend, false, 0)")
		mustContain(t, text, "computed on device 0", "This backend has 1 device", "Exec returned after", "MiB used)",
			"(4.0 MiB): fits", "(1.0 TiB): does not fit", "gonbgpu: not enough memory: needs 1.0 TiB", "the fixed cost of one run")
		// The CPU/GPU timing table, rows in the header's columns: positive CPU times over growing sizes (the
		// GPU columns are "—" here).
		mustContain(t, text, "     n     CPU (ms)     GPU (ms)   speedup")
		re := regexp.MustCompile(`(?m)^\s*(\d+)\s+([0-9.]+)\s+(—|[0-9.]+)\s+(—|[0-9.]+x)$`)
		rows := re.FindAllStringSubmatch(text, -1)
		if len(rows) < 5 {
			t.Fatalf("timing table has %d rows", len(rows))
		}
		prevN := 0
		for _, r := range rows {
			n, ms := atoi(r[1]), atof(r[2])
			if n <= prevN || ms <= 0 || r[3] != "—" {
				t.Errorf("bad timing row %q", r[0])
			}
			prevN = n
		}
		if last, first := atof(rows[len(rows)-1][2]), atof(rows[0][2]); last < 10*first {
			t.Errorf("the largest size (%v ms) should take far longer than the smallest (%v ms)", last, first)
		}
		mustPlot(t, text, 2)
	},
	"03-vanishing-gradients.ipynb": func(t *testing.T, nb *ipynb.Notebook, text string) {
		// After training, the plain net's first layer learns far more slowly than the residual net's: its
		// gradient relative to its weights is far smaller (and so is the raw gradient).
		if m := mustMatch(t, text, `first-layer relative gradient after training: plain (\S+), residual (\S+) `); m != nil {
			plain, res := atof(m[1]), atof(m[2])
			if plain <= 0 || res < 10*plain {
				t.Errorf("the plain net's first-layer relative gradient (%g) should be far below the residual net's (%g)", plain, res)
			}
		}
		if m := mustMatch(t, text, `first layer after training: gradient norm plain (\S+), residual (\S+)`); m != nil && atof(m[1]) >= atof(m[2]) {
			t.Errorf("the plain net's first-layer gradient norm (%s) should be below the residual net's (%s)", m[1], m[2])
		}
		if m := mustMatch(t, text, `final training accuracy: plain ([0-9.]+), residual ([0-9.]+)`); m != nil && atof(m[1]) >= atof(m[2]) {
			t.Errorf("the plain net should train worse: plain %s, residual %s", m[1], m[2])
		}
		mustContain(t, text, "resnet56-plain", "first layer at initialisation", "multiply the gradient by at most 9.1e-13")
		// The sigmoid's derivative peaks at 1/4, at 0.
		if m := mustMatch(t, text, `largest derivative of the sigmoid: ([0-9.]+) at x = ([-0-9.]+);`); m != nil && (math.Abs(atof(m[1])-0.25) > 1e-3 || atof(m[2]) != 0) {
			t.Errorf("sigmoid derivative: %s", m[0])
		}
		// Initialisation: weights of std 1 explode the activations, Xavier shrinks them under ReLU, He keeps them.
		if m := mustMatch(t, text, `after 30 layers: std 1 → (\S+), Xavier → (\S+), He → (\S+) `); m != nil {
			if std1, xavier, he := atof(m[1]), atof(m[2]), atof(m[3]); std1 < 1e10 || xavier > 1e-2 || he < 0.1 || he > 10 {
				t.Errorf("initialisation spreads: %s", m[0])
			}
		}
		// The degradation: the deeper plain network trains worse than the shallower one, and the text says so.
		if m := mustMatch(t, text, `final training accuracy of the plain networks: plain-20 ([0-9.]+), plain-56 ([0-9.]+)`); m != nil {
			if atof(m[2]) >= atof(m[1]) {
				t.Errorf("no degradation: %s", m[0])
			}
			mustContain(t, text, "the deeper plain network trains worse on its own training data")
		}
		mustPlot(t, text, 7)
	},
	"04-multi-gpu-resnet.ipynb": func(t *testing.T, nb *ipynb.Notebook, text string) {
		// Pictures: the dataset grid, the same images augmented (two epochs), the misclassified ones.
		if got := strings.Count(text, `class="gonbgpu-images"`); got < 4 {
			t.Errorf("%d image grids shown, want 4 (data, augmented twice, misclassified)", got)
		}
		if !regexp.MustCompile(`src="data:image/png;base64,`).MatchString(text) {
			t.Errorf("no PNG images")
		}
		for _, m := range regexp.MustCompile(`epoch \d: (\d+)% of the pixels differ`).FindAllStringSubmatch(text, -1) {
			if atoi(m[1]) == 0 {
				t.Errorf("augmentation changed nothing: %s", m[0])
			}
		}
		// The model in cells: its source shown, the library's equal on a real batch.
		mustContain(t, text, "func ResidualBlock(", "func TrainStep(", "Gradient(loss, weights...)", "misclassified test images")
		cmp := regexp.MustCompile(`(Float32|Float64): loss: tutorial ([0-9.]+), library ([0-9.]+); (\d+) trainable variables in both; the gradients differ by at most (\S+) of`).FindAllStringSubmatch(text, -1)
		if len(cmp) != 2 {
			t.Errorf("%d comparisons with the library, want 2 (float32 and float64)", len(cmp))
		}
		for _, m := range cmp {
			lossTol, gradTol := 1e-5, 0.1 // float32: rounding in sums taken in other orders
			if m[1] == "Float64" {
				lossTol, gradTol = 1e-12, 1e-9 // the same function
			}
			if math.Abs(atof(m[2])-atof(m[3])) > lossTol*atof(m[3]) || atoi(m[4]) < 60 || atof(m[5]) > gradTol {
				t.Errorf("the hand-written model does not match the library's: %s", m[0])
			}
		}
		// The hand-written loop learned, and its curves are one figure redrawn in place.
		if m := mustMatch(t, text, `hand-written loop: test accuracy ([0-9.]+) after (\d+) epochs`); m != nil && atof(m[1]) < 0.3 {
			t.Errorf("hand-written loop: test accuracy %s is not well above chance (0.10)", m[1])
		}
		for _, c := range nb.Cells {
			if src := string(c.Source); strings.Contains(src, "tutorial.TrainStep(") {
				if n := strings.Count(c.OutputText(), `class="gonbgpu-figure"`); n != 1 {
					t.Errorf("the hand-written loop's cell shows %d figures, want 1 redrawn in place", n)
				}
			}
		}
		// The library's run.
		if m := mustMatch(t, text, `test accuracy after \d+ epochs: ([0-9.]+) \(chance: 0\.10\)`); m != nil && atof(m[1]) < 0.4 {
			t.Errorf("test accuracy %s is not well above chance (0.10)", m[1])
		}
		// The device sections, on the backend the chapter ran on; the folder run and the batch-job cell after them.
		switch backend := backendOf(text); backend {
		case "go":
			chapter04DataParallel(t, nb, text, 0)
			chapter04OneDevice(t, text)
		case "xla:cpu":
			chapter04DataParallel(t, nb, text, 4)
			chapter04Devices(t, text, []int{1, 2, 4})
		default:
			t.Errorf("chapter 04 ran on backend %q: its checks know go (one device) and xla:cpu (4 CPU devices)", backend)
		}
		mustContain(t, text, "folder run: test accuracy", "no batch-job history at ")
		figuresLabelled(t, text)
		mustPlot(t, text, 4)
		if !strings.Contains(text, `class="gonbgpu-confusion"`) {
			t.Errorf("no confusion matrix")
		}
	},
	"05-transfer-learning.ipynb": func(t *testing.T, nb *ipynb.Notebook, text string) {
		// The source task learned its five classes.
		if m := mustMatch(t, text, `source task: \S+, test accuracy ([0-9.]+) on its 5 classes`); m != nil && atof(m[1]) < 0.5 {
			t.Errorf("source task: test accuracy %s is not well above chance (0.20)", m[1])
		}
		mustContain(t, text, "init:     runs/05-transfer/source's weights", "new 5-class head, backbone frozen",
			"resnet20-w0.5-finetuned-frozen", "resnet20-w0.5-finetuned,")
		// The table: three rows, accuracies in [0, 1]; the frozen run trains only the head (fewer parameters)
		// and is faster; the transferred runs beat chance (0.20) clearly.
		rows := regexp.MustCompile(`(?m)^(frozen|fine-tuned|scratch)\s+(\d+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)$`).FindAllStringSubmatch(text, -1)
		if len(rows) != 3 {
			t.Fatalf("the comparison table has %d rows, want 3 (frozen, fine-tuned, scratch)", len(rows))
		}
		row := map[string][]string{}
		for _, r := range rows {
			row[r[1]] = r
			for _, a := range []string{r[3], r[4]} {
				if v := atof(a); !(v >= 0 && v <= 1) {
					t.Errorf("accuracy %s out of [0, 1] in %q", a, r[0])
				}
			}
			if atof(r[5]) <= 0 {
				t.Errorf("no time measured in %q", r[0])
			}
		}
		if atoi(row["frozen"][2]) >= atoi(row["fine-tuned"][2]) || row["fine-tuned"][2] != row["scratch"][2] {
			t.Errorf("trained parameters: frozen %s should be far fewer than fine-tuned %s, which equals scratch %s",
				row["frozen"][2], row["fine-tuned"][2], row["scratch"][2])
		}
		if atof(row["frozen"][5]) >= atof(row["fine-tuned"][5]) {
			t.Errorf("the frozen run (%s s) should be faster than fine-tuning (%s s)", row["frozen"][5], row["fine-tuned"][5])
		}
		// The text says the frozen run is the least accurate here (features of clothes, classes of shoes and bags).
		if atof(row["frozen"][3]) >= atof(row["fine-tuned"][3]) {
			t.Errorf("the frozen run (%s) should be less accurate than fine-tuning (%s), as the text says", row["frozen"][3], row["fine-tuned"][3])
		}
		if atof(row["frozen"][3]) < 0.3 || atof(row["fine-tuned"][3]) < 0.5 || atof(row["scratch"][3]) < 0.3 {
			t.Errorf("accuracies not clearly above chance (0.20): frozen %s, fine-tuned %s, scratch %s",
				row["frozen"][3], row["fine-tuned"][3], row["scratch"][3])
		}
		// The sentence under the plot is computed from the same histories.
		if m := mustMatch(t, text, `fine-tuned vs scratch: ([0-9.]+) points (above|below)`); m != nil {
			d := 100 * (atof(row["fine-tuned"][3]) - atof(row["scratch"][3]))
			if m[2] == "below" {
				d = -d
			}
			if math.Abs(d-atof(m[1])) > 0.06 {
				t.Errorf("%q does not match the table (%.2f points)", m[0], d)
			}
		}
		// Predictions from the reopened runs agree with the runs' own final evaluation.
		for _, kind := range []string{"fine-tuned", "scratch"} {
			if m := mustMatch(t, text, kind+`: (\d+) of (\d+) held-out images right \(([0-9.]+)\)`); m != nil && m[3] != row[kind][3] {
				t.Errorf("%s: the predictions' accuracy %s differs from the run's %s", kind, m[3], row[kind][3])
			}
		}
		if got := strings.Count(text, `class="gonbgpu-images"`); got < 4 {
			t.Errorf("%d image grids shown, want 4 (source, target, two models' predictions)", got)
		}
		mustPlot(t, text, 1)
		// Real ImageNet weights: measured when the file is there, else where the cell looked and how to export.
		if !strings.Contains(text, "resnet18-pretrained") {
			mustContain(t, text, "no ImageNet ResNet-18 at ", "torch.onnx.export(torchvision.models.resnet18(weights=")
		}
	},
}

// backendOf returns the backend a notebook's cells announced ("go", "xla:cpu", …), "" if none.
func backendOf(text string) string {
	if m := regexp.MustCompile(`gonbgpu: backend (\S+)`).FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return ""
}

// figuresLabelled asserts every figure names, under its title, the machine and backend that made it:
// "xla:cpu, 4 CPU devices sharing 2 cores, <CPU model>", "go (pure Go), one device: 2 cores of <CPU model>",
// "xla:cuda, 4 × <GPU>".
func figuresLabelled(t *testing.T, text string) {
	t.Helper()
	label := regexp.MustCompile(`\[figure\] [^\n]+\n(xla:cpu, \d+ CPU devices sharing \d+ cores, |go \(pure Go\), one device: \d+ cores of |xla:cuda, \d+ × )[^\n]+ \(x: `)
	if all, labelled := strings.Count(text, "[figure] "), len(label.FindAllString(text, -1)); all == 0 || labelled != all {
		t.Errorf("%d of %d figures say which machine and backend made them", labelled, all)
	}
}

// reportRow matches a row of report.Compare's table for chapter 04's runs (named MODEL-Ndev): name, N in
// the name, the devices column (from the run's history), global batch, s/epoch, test accuracy, speedup.
var reportRow = regexp.MustCompile(`(?m)^(resnet\d+-(\d+)dev)\s+\S+\s+(\d+)\s+(\d+)\s+\d+\s+([0-9.]+)\s+[0-9.]+\s+\d+\s+([0-9.]+)\s+\S+\s+([0-9.]+)x$`)

// deviceRow matches a row of chapter 04's table against the number of devices: devices, the backend and
// device counts the history recorded, s/epoch, speedup, efficiency, test accuracy, CPU s/epoch, cores busy.
var deviceRow = regexp.MustCompile(`(?m)^\s*(\d+)  (\S+), (\d+) of (\d+) device\(s\)\s+([0-9.]+)\s+([0-9.]+)x\s+(\d+)%\s+([0-9.]+)\s+(\S+)\s+(\S+)$`)

// dpTol bounds the relative differences chapter 04's data-parallel checks accept. The steps compared
// compute the same float64 sums in other orders, which leaves differences of about 1e-16; the step itself
// moves the weights by about 5e-2 (relative), so a wrong gradient, a wrong shard weighting or a missing
// update shows far above it.
const dpTol = 1e-9

var (
	// dpHand matches the section's comparison of the step by hand on N shards with the full-batch step.
	dpHand = regexp.MustCompile(`by hand on (\d+) shards against the full batch, float64: largest difference (\S+)`)
	// dpSPMD matches its comparison of the library's SPMD step on N devices with the step by hand.
	dpSPMD = regexp.MustCompile(`SPMD on (\d+) devices \(.*\) against the step by hand on (\d+) shards, float64: largest difference (\S+)`)
	// dpMoved matches how far the full-batch step moved the weights.
	dpMoved = regexp.MustCompile(`full-batch step \((\d+) images\): the weights moved by up to (\S+) \(relative\)`)
	// dpLoss matches the shards' weighted losses against the global batch's loss.
	dpLoss = regexp.MustCompile(`Σ_k \(n_k/B\)·L_k = (\S+), the global batch's loss (\S+)`)
)

// chapter04DataParallel checks the section "Data parallelism by hand": it is there, explains shards and the
// all-reduce, and its outputs show the step by hand equal to the full-batch step in float64, on equal
// shards and on 3 unequal ones, and (devices > 1) the library's SPMD step on that many devices equal to
// the step by hand. With devices == 0 (one-device backend) the SPMD cell must say why it compares nothing.
func chapter04DataParallel(t *testing.T, nb *ipynb.Notebook, text string, devices int) {
	t.Helper()
	var prose string
	for _, c := range nb.Cells {
		if c.CellType == "markdown" {
			prose += string(c.Source)
		}
	}
	for _, w := range []string{"## Data parallelism by hand", "**shards**", "**all-reduce**", "without batch norm"} {
		if !strings.Contains(prose, w) {
			t.Errorf("chapter 04's prose lacks %q", w)
		}
	}
	if m := mustMatch(t, text, dpLoss.String()); m != nil && !(math.Abs(atof(m[1])-atof(m[2])) <= 1e-12*math.Abs(atof(m[2]))) {
		t.Errorf("the shards' weighted losses do not add up to the global batch's: %s", m[0])
	}
	if m := mustMatch(t, text, dpMoved.String()); m != nil && !(atof(m[2]) > 1e3*dpTol) {
		t.Errorf("the full-batch step hardly moved the weights, so equal steps prove nothing: %s", m[0])
	}
	hand := dpHand.FindAllStringSubmatch(text, -1)
	want := []string{"3", strconv.Itoa(max(devices, 4))} // equal shards (one per device, 4 without several), and 3 unequal ones
	var got []string
	for _, m := range hand {
		got = append(got, m[1])
		if d, err := strconv.ParseFloat(m[2], 64); err != nil || !(d <= dpTol) {
			t.Errorf("the step by hand differs from the full-batch step by more than %g: %s", dpTol, m[0])
		}
	}
	sort.Strings(got)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("steps by hand on %v shards compared with the full batch, want %v", got, want)
	}
	spmd := dpSPMD.FindAllStringSubmatch(text, -1)
	if devices < 2 {
		mustContain(t, text, "has one device: no SPMD step to compare with")
		if len(spmd) != 0 {
			t.Errorf("an SPMD comparison on a one-device backend: %q", spmd)
		}
		return
	}
	if len(spmd) != 1 {
		t.Errorf("%d SPMD comparisons, want 1", len(spmd))
		return
	}
	m := spmd[0]
	if atoi(m[1]) != devices || m[2] != m[1] {
		t.Errorf("the SPMD step ran on %s devices against %s shards, want %d of each", m[1], m[2], devices)
	}
	if d, err := strconv.ParseFloat(m[3], 64); err != nil || !(d <= dpTol) {
		t.Errorf("the SPMD step differs from the step by hand by more than %g: %s", dpTol, m[0])
	}
}

// chapter04OneDevice checks the device sections on a backend with one device (pure Go): they say so and how
// to get several, and compare nothing: one real row, no batch-size comparison, no speedup figure.
func chapter04OneDevice(t *testing.T, text string) {
	t.Helper()
	mustContain(t, text, "device counts to compare: [1]", "This backend has one device", "It was chosen because:",
		"GOMLX_BACKEND=xla:cpu", "speedup: resnet20-1dev's", "One run, on one device: there is no other device count")
	rows := reportRow.FindAllStringSubmatch(text, -1)
	if len(rows) != 1 || rows[0][3] != "1" || rows[0][7] != "1.00" || atof(rows[0][5]) <= 0 {
		t.Errorf("the report should have one row, the one-device run: %q", rows)
	}
	if dev := deviceRow.FindAllStringSubmatch(text, -1); len(dev) != 1 || dev[0][1] != "1" || dev[0][2] != "go" || dev[0][3] != "1" {
		t.Errorf("the table against devices should have one row, one device of the go backend: %q", dev)
	}
	if strings.Contains(text, "Speedup against devices") {
		t.Errorf("a speedup figure from one device count")
	}
}

// chapter04Devices checks the device sections on a backend with several devices: one run per device count
// in counts, each trained on as many devices as its history recorded, all with the same global batch; the
// speedups, efficiencies and the sentence under the table computed from those runs; the speedup figure.
func chapter04Devices(t *testing.T, text string, counts []int) {
	t.Helper()
	mustContain(t, text, fmt.Sprintf("device counts to compare: %v", counts), "speedup: resnet20-1dev's",
		"Speedup against devices", fmt.Sprintf("measured: %d points", len(counts)))
	if strings.Contains(text, "This backend has one device") {
		t.Errorf("the chapter says it has one device")
	}
	rows := reportRow.FindAllStringSubmatch(text, -1)
	if len(rows) != len(counts) {
		t.Fatalf("the report has %d rows, want one per device count %v", len(rows), counts)
	}
	base := atof(rows[0][5])
	accLo, accHi := 1.0, 0.0
	for i, r := range rows {
		n := counts[i]
		// The devices column is what the run's history recorded it trained on.
		if atoi(r[2]) != n || atoi(r[3]) != n {
			t.Errorf("report row %d should be a run on %d devices, recorded as such: %q", i, n, r[0])
		}
		if r[4] != rows[0][4] {
			t.Errorf("global batch %s differs from the one-device run's %s: %q", r[4], rows[0][4], r[0])
		}
		if s := atof(r[5]); s <= 0 || math.Abs(atof(r[7])-base/s) > 0.01*base/s+0.006 {
			t.Errorf("speedup %s is not the one-device s/epoch %.2f over %s: %q", r[7], base, r[5], r[0])
		}
		acc := atof(r[6])
		accLo, accHi = min(accLo, acc), max(accHi, acc)
		// The run itself printed what it trained on.
		if !regexp.MustCompile(fmt.Sprintf(`devices:  %d × .* batch %s \(%d per device\): %d of \d+ device\(s\), as asked`, n, r[4], atoi(r[4])/n, n)).MatchString(text) {
			t.Errorf("no training run printed that it trained on %d devices with batch %s", n, r[4])
		}
	}
	// The same steps on every device count: the accuracies stay close, and well above chance (0.10).
	if accLo < 0.4 || accHi-accLo > 0.1 {
		t.Errorf("test accuracies from %.4f to %.4f: the runs take the same steps", accLo, accHi)
	}
	dev := deviceRow.FindAllStringSubmatch(text, -1)
	if len(dev) != len(counts) {
		t.Fatalf("the table against devices has %d rows, want %d", len(dev), len(counts))
	}
	for i, r := range dev {
		n, speedup := counts[i], atof(r[6])
		if atoi(r[1]) != n || atoi(r[3]) != n || r[2] != backendOf(text) || r[5] != rows[i][5] || r[6] != rows[i][7] {
			t.Errorf("row %q of the table against devices does not match the report's %q", r[0], rows[i][0])
		}
		if eff := atof(r[7]); math.Abs(eff-100*speedup/float64(n)) > 1 {
			t.Errorf("efficiency %v%% is not the speedup %v over %d devices: %q", eff, speedup, n, r[0])
		}
		if cpu, cores := atof(r[9]), atof(r[10]); !(cpu > 0) || !(cores > 0) {
			t.Errorf("no CPU time measured: %q", r[0])
		}
	}
	last := rows[len(rows)-1]
	if m := mustMatch(t, text, `on (\d+) devices an epoch took ([0-9.]+) s, on one ([0-9.]+) s: a speedup of ([0-9.]+)x where the ideal is (\d+)x`); m != nil {
		if m[1] != last[3] || m[2] != last[5] || m[3] != rows[0][5] || m[4] != last[7] || m[5] != last[3] {
			t.Errorf("%q does not match the table's last row %q", m[0], last[0])
		}
	}
	mustContain(t, text, "devices share this machine's", "Cores busy: ", "Final test accuracies from")
}

// mustPlot asserts the notebook displayed at least n figures (kernel/plot's).
func mustPlot(t *testing.T, text string, n int) {
	t.Helper()
	if got := strings.Count(text, `class="gonbgpu-figure"`); got < n {
		t.Errorf("%d figure(s) shown, want at least %d", got, n)
	}
}

func atof(s string) float64 {
	f, _ := strconv.ParseFloat(s, 64)
	return f
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func mustContain(t *testing.T, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("output lacks %q", w)
		}
	}
}

// mustMatch asserts a regular expression matches and returns its submatches.
func mustMatch(t *testing.T, text, expr string) []string {
	t.Helper()
	m := regexp.MustCompile(expr).FindStringSubmatch(text)
	if m == nil {
		t.Errorf("output has nothing matching %q", expr)
	}
	return m
}

func TestNotebooks(t *testing.T) {
	paths, err := filepath.Glob("*.ipynb")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks found: %v", err)
	}
	sort.Strings(paths)

	data, out := installKernel(t)
	var results []*nbrun.Result
	for _, p := range paths {
		t.Run(strings.TrimSuffix(p, ".ipynb"), func(t *testing.T) {
			chk, ok := checks[p]
			if !ok {
				t.Fatalf("%s has no checks in notebooks_test.go: add its key facts", p)
			}
			committedOutputs(t, p)
			r := nbrun.Run(p, nbrun.Options{
				OutDir:      out,
				Env:         []string{"JUPYTER_DATA_DIR=" + data, "GOMLX_BACKEND=go"},
				CellTimeout: 15 * time.Minute,
				Timeout:     30 * time.Minute,
			})
			results = append(results, r)
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			for _, e := range r.Errors {
				t.Errorf("%s: %v", p, e)
			}
			if r.Backend != "go" {
				t.Errorf("%s ran on backend %q, want the pure-Go backend", p, r.Backend)
			}
			richOutputs(t, r.Parsed)
			chk(t, r.Parsed, r.Parsed.AllText())
			t.Logf("%s: %s on %s", p, r.Duration.Round(time.Second), r.Backend)
		})
	}
	t.Logf("\n%s", nbrun.Summary(results))
}

// installKernel installs the kernelspec into a temporary Jupyter data dir, as a user's `make install-kernel`
// would (it records the checkout's XLA CPU plugin, from `make venv`, when there is one), and returns that
// dir and the folder for executed notebooks.
func installKernel(t *testing.T) (data, out string) {
	t.Helper()
	data = t.TempDir()
	var log bytes.Buffer
	wd, _ := os.Getwd()
	res, err := installer.Install(installer.Options{DataDir: data, Checkout: filepath.Dir(wd), Out: &log, NoSystemPackages: true})
	if err != nil {
		t.Fatalf("installing the kernelspec: %v\n%s", err, log.String())
	}
	newerModulesListed(t, res.KernelDir, filepath.Dir(wd))
	out = t.TempDir()
	if d := os.Getenv("GONBGPU_NOTEBOOK_OUT"); d != "" {
		out = d // keep the executed notebooks, e.g. for CI artefacts
	}
	return data, out
}

// TestChapter04OnCPUDevices executes chapter 04 on XLA's CPU backend with its 4 devices, as `make run` does
// on a machine without GPUs, and checks that its multi-device sections come from real runs on 1, 2 and 4
// devices: the device counts the histories recorded, the same global batch, speedups computed from those
// runs. It needs the XLA CPU plugin (`make venv`, which `make test` runs first): without it the kernel
// fails with the plugin's install message. About 4 minutes on 2 cores.
func TestChapter04OnCPUDevices(t *testing.T) {
	const p = "04-multi-gpu-resnet.ipynb"
	data, out := installKernel(t)
	out = filepath.Join(out, "xla-cpu") // beside TestNotebooks' pure-Go run of the same chapter
	r := nbrun.Run(p, nbrun.Options{
		OutDir:      out,
		Env:         []string{"JUPYTER_DATA_DIR=" + data, "GOMLX_BACKEND=xla:cpu", "GONBGPU_CPU_DEVICES=4"},
		CellTimeout: 15 * time.Minute,
		Timeout:     30 * time.Minute,
	})
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	for _, e := range r.Errors {
		t.Errorf("%s: %v", p, e)
	}
	if r.Backend != "xla:cpu" {
		t.Fatalf("%s ran on backend %q, want xla:cpu", p, r.Backend)
	}
	richOutputs(t, r.Parsed)
	checks[p](t, r.Parsed, r.Parsed.AllText())
	t.Logf("%s: %s on %s", p, r.Duration.Round(time.Second), r.Backend)
}

// richOutputs checks every rich output: none is empty (an HTML display cleared at the end, as progress
// bars once were, stays in the saved notebook as an empty output), and each has a text/plain twin for
// viewers that show no HTML.
func richOutputs(t *testing.T, nb *ipynb.Notebook) {
	t.Helper()
	for i, c := range nb.Cells {
		for _, o := range c.Outputs {
			if o.OutputType != "display_data" && o.OutputType != "execute_result" {
				continue
			}
			for mime, v := range o.Data {
				if strings.TrimSpace(string(v)) == "" {
					t.Errorf("cell %d has an empty %s output", i, mime)
				}
			}
			if _, ok := o.Data["text/plain"]; !ok {
				t.Errorf("cell %d has a rich output without a text/plain twin", i)
			}
		}
	}
}

// TestCommittedNotebooks checks the key facts and the rich outputs of the notebooks as committed, without
// running them: what readers see on GitHub must hold what the chapters claim.
func TestCommittedNotebooks(t *testing.T) {
	paths, err := filepath.Glob("*.ipynb")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks found: %v", err)
	}
	for _, p := range paths {
		t.Run(strings.TrimSuffix(p, ".ipynb"), func(t *testing.T) {
			chk, ok := checks[p]
			if !ok {
				t.Fatalf("%s has no checks in notebooks_test.go: add its key facts", p)
			}
			nb, err := ipynb.Read(p)
			if err != nil {
				t.Fatal(err)
			}
			committedOutputs(t, p)
			richOutputs(t, nb)
			chk(t, nb, nb.AllText())
		})
	}
}

// committedOutputs checks that the notebook as committed carries outputs of a real run, with the backend
// it ran on shown, so that readers on GitHub see results without running it.
func committedOutputs(t *testing.T, path string) {
	t.Helper()
	nb, err := ipynb.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if errs := nb.Errors(); len(errs) > 0 {
		t.Errorf("%s is committed with error outputs: %v", path, errs[0])
	}
	withOutput := 0
	for _, c := range nb.Cells {
		if c.CellType == "code" && len(c.Outputs) > 0 {
			withOutput++
		}
	}
	if withOutput == 0 || !strings.Contains(nb.AllText(), "gonbgpu: backend ") {
		t.Errorf("%s is committed without outputs (or without the backend line): run `make notebooks` and commit the result", path)
	}
}
