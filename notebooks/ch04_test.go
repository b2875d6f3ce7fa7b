package notebooks_test

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/ipynb"
)

func init() { checks["04-multi-gpu-resnet.ipynb"] = check04 }

// check04 asserts chapter 04's key facts (A ResNet on one device and on all of them) from its executed outputs.
func check04(t *testing.T, nb *ipynb.Notebook, text string) {
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
	// The model in cells: written as the notebook's own functions, used by the training loop, and equal to
	// the package's (vision/tutorial) on one batch; the library's equal to the package's too.
	chapter04ModelInCells(t, nb, text)
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
	mustContain(t, text, "misclassified test images: true class → prediction")
	for _, c := range nb.Cells {
		if src := string(c.Source); strings.Contains(src, "trainStep(scope, net") {
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
		chapter04BatchNorm(t, text, 0)
		chapter04OneDevice(t, text)
		mustContain(t, text, "t(N) has three unknowns and needs runs on at least three device counts")
	case "xla:cpu":
		chapter04DataParallel(t, nb, text, 4)
		chapter04BatchNorm(t, text, 4)
		chapter04Devices(t, text, []int{1, 2, 4})
		chapter04TimeModel(t, text, []int{1, 2, 4})
	default:
		t.Errorf("chapter 04 ran on backend %q: its checks know go (one device) and xla:cpu (4 CPU devices)", backend)
	}
	chapter04LearningRate(t, text)
	mustContain(t, text, "folder run: test accuracy", "no batch-job history at ")
	figuresLabelled(t, text)
	mustPlot(t, text, 5) // data-free figures: the hand loop, the library run, accuracy twice, the learning-rate runs
	if !strings.Contains(text, `class="gonbgpu-confusion"`) {
		t.Errorf("no confusion matrix")
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

// chapter04ModelInCells checks the section "The model, written out": batch norm, the residual block, the
// network, the loss, the gradient and the training step are the notebook's own functions, not a package's
// source printed; the hand-written loop trains the cells' model; the cells' model equals the package's
// (vision/tutorial) in float64 on one batch, outputs and gradients; and the parameter counts are split
// into trainable parameters, batch-norm statistics and the rest, for the cells' model and the library's.
func chapter04ModelInCells(t *testing.T, nb *ipynb.Notebook, text string) {
	t.Helper()
	var code string
	for _, c := range nb.Cells {
		if c.CellType == "code" {
			code += string(c.Source) + "\n"
		}
	}
	for _, f := range []string{"func batchNorm(", "func convBN(", "func residualBlock(", "func resNet20(", "func crossEntropy(",
		"func weightGradients(", "graph.Gradient(loss, weights...)", "func trainStep(", "net := resNet20Model("} {
		if !strings.Contains(code, f) {
			t.Errorf("no code cell has %q: the model must be written in cells", f)
		}
	}
	if strings.Contains(code, "tutorial.Source(") {
		t.Errorf("a cell still prints the package's source instead of writing the model")
	}
	m := mustMatch(t, text, `the cells' ResNet-20 against the package's, float64, same weights, 64 images: loss (\S+) and (\S+);\n\s+logits differ by at most (\S+) of the largest logit; (\d+) trainable variables, gradients differ by at most (\S+) of the largest entry`)
	if m != nil {
		lc, lp, dl, dg := atof(m[1]), atof(m[2]), atof(m[3]), atof(m[5])
		if !(math.Abs(lc-lp) <= 1e-12*lp) || !(dl <= 1e-12) || !(dg <= 1e-9) || atoi(m[4]) != 65 || !(lp > 0) {
			t.Errorf("the cells' model does not compute the package's function: %s", m[0])
		}
	}
	// Counts: width 0.5, the cells' model, then the library's trained one; the parts add up to the total, and
	// both have the same trainable parameters.
	count := regexp.MustCompile(`(\d+) values: (\d+) trainable parameters \+ (\d+) batch-norm statistics((?: \+ \d+ in \S+)*)`)
	cells := mustMatch(t, text, `width 0\.5: images .*? -> logits .*?; the store holds `+count.String())
	lib := mustMatch(t, text, `the library's model holds `+count.String())
	params := mustMatch(t, text, `parameters: (\d+), first step`)
	for _, c := range [][]string{cells, lib} {
		if c == nil {
			continue
		}
		sum := atoi(c[2]) + atoi(c[3])
		for _, o := range regexp.MustCompile(`\+ (\d+) in`).FindAllStringSubmatch(c[4], -1) {
			sum += atoi(o[1])
		}
		if sum != atoi(c[1]) || atoi(c[3]) == 0 {
			t.Errorf("the parts do not add up to the total: %s", c[0])
		}
	}
	if lib != nil && !strings.Contains(lib[4], fmt.Sprintf("+ %d in avg_weight", atoi(lib[3])/2)) {
		t.Errorf("the prose says the library adds one avg_weight per batch-norm channel: %s", lib[0])
	}
	if cells != nil && lib != nil && params != nil && (cells[2] != lib[2] || cells[3] != lib[3] || lib[1] != params[1]) {
		t.Errorf("cells' model %q against the library's %q (history: %s parameters): the same trainable parameters, and the history counts the library's total",
			cells[0], lib[0], params[1])
	}
}

// bnRow matches a row of chapter 04's table of batch norm per shard: shards, images per device, how far the
// shards' means are from the global one (in σ), the weighted loss, the gradient's relative difference in %.
var bnRow = regexp.MustCompile(`(?m)^\s*(\d+)\s+(\d+)\s+([0-9.]+)σ\s+([0-9.]+)\s+([0-9.]+)%$`)

// chapter04BatchNorm checks the section "Batch norm under data parallelism": with one shard the per-shard
// statistics are the global ones (same loss, same gradient); with more shards the loss and the gradient
// differ from the full batch's, more with smaller shards; the step with per-shard statistics differs from
// the full-batch step; and (devices > 1) the library's SPMD step equals the full-batch step.
func chapter04BatchNorm(t *testing.T, text string, devices int) {
	t.Helper()
	full := mustMatch(t, text, `bnNet, (\d+) images, batch norm over all of them: loss (\S+), gradient norm (\S+)`)
	rows := bnRow.FindAllStringSubmatch(text, -1)
	if len(rows) != 5 {
		t.Fatalf("the batch-norm table has %d rows, want 5 (1, 2, 4, 8, 16 shards): %q", len(rows), rows)
	}
	for i, r := range rows {
		if n := atoi(r[1]); n != 1<<i || atoi(r[2]) != 64/n {
			t.Errorf("row %d of the batch-norm table is not %d shards of %d images: %q", i, 1<<i, 64>>i, r[0])
		}
	}
	if full != nil && (math.Abs(atof(rows[0][4])-atof(full[2])) > 1e-6 || atof(rows[0][3]) != 0 || atof(rows[0][5]) != 0) {
		t.Errorf("one shard should be the global batch: %q against %q", rows[0][0], full[0])
	}
	for _, r := range rows[1:] {
		if !(atof(r[5]) > 0.01) || full != nil && !(math.Abs(atof(r[4])-atof(full[2])) > 1e-6) {
			t.Errorf("per-shard statistics should change the loss and the gradient: %q", r[0])
		}
	}
	// The prose: a few percent with 32 or 16 images per device, more than 10% with 8 or 4.
	for _, r := range rows[1:] {
		if big := atoi(r[2]) <= 8; big != (atof(r[5]) > 10) {
			t.Errorf("the prose says the gradient moves by more than 10%% with 8 or 4 images per device, less with 32 or 16: %q", r[0])
		}
	}
	if a, b := rows[1], rows[4]; !(atof(b[5]) > atof(a[5])) || !(atof(b[3]) > atof(a[3])) {
		t.Errorf("16 shards should stray further than 2: %q against %q", b[0], a[0])
	}
	if m := mustMatch(t, text, `bnNet, batch norm per shard on (\d+) shards against the full-batch step, float64: largest difference (\S+)`); m != nil && !(atof(m[2]) > 1e3*dpTol) {
		t.Errorf("the step with per-shard statistics should differ from the full-batch step: %s", m[0])
	}
	spmd := regexp.MustCompile(`bnNet, SPMD on (\d+) devices \(.*\) against the full-batch step, float64: largest difference (\S+)`).FindAllStringSubmatch(text, -1)
	if devices < 2 {
		mustContain(t, text, "has one device: no SPMD step with batch norm to compare with")
		if len(spmd) != 0 {
			t.Errorf("an SPMD comparison on a one-device backend: %q", spmd)
		}
		return
	}
	if len(spmd) != 1 || atoi(spmd[0][1]) != devices {
		t.Fatalf("want one SPMD step with batch norm on %d devices: %q", devices, spmd)
	}
	if d, err := strconv.ParseFloat(spmd[0][2], 64); err != nil || !(d <= dpTol) {
		t.Errorf("the SPMD step with batch norm differs from the full-batch step: %s", spmd[0][0])
	}
	mustContain(t, text, "The SPMD step is the full-batch step: its batch norm took the global batch's statistics")
}

// chapter04TimeModel checks the fit of t(N) = compute/N + communication·(N−1) + fixed: its points are the
// runs' epochs after the first, whose means per device count are the report's s/epoch; the model's values
// and the residuals follow from the printed terms; the fits to each epoch alone are printed; and the figure.
func chapter04TimeModel(t *testing.T, text string, counts []int) {
	t.Helper()
	m := mustMatch(t, text, `fitted: compute (\S+) s, communication (\S+) s per further device, fixed (\S+) s`)
	if m == nil {
		return
	}
	c, comm, fixed := atof(m[1]), atof(m[2]), atof(m[3])
	rows := regexp.MustCompile(`(?m)^\s+(\d+)\s+(\d+)\s+([0-9.]+)\s+(-?[0-9.]+)\s+([+-][0-9.]+)$`).FindAllStringSubmatch(text, -1)
	if len(rows) != 2*len(counts) {
		t.Fatalf("the fit has %d points, want %d (epochs 2 and 3 of %d runs): %q", len(rows), 2*len(counts), len(counts), rows)
	}
	sum := map[int]float64{}
	for _, r := range rows {
		n, measured, model, res := atoi(r[1]), atof(r[3]), atof(r[4]), atof(r[5])
		if want := c/float64(n) + comm*float64(n-1) + fixed; math.Abs(model-want) > 0.003 || math.Abs(res-(measured-model)) > 0.003 {
			t.Errorf("point %q does not follow from the fitted terms (model %.3f)", r[0], want)
		}
		sum[n] += measured / 2
	}
	for _, r := range reportRow.FindAllStringSubmatch(text, -1) {
		if n := atoi(r[3]); math.Abs(sum[n]-atof(r[5])) > 0.006 {
			t.Errorf("the fit's points on %d devices average %.3f s, the report's s/epoch is %s", n, sum[n], r[5])
		}
	}
	alone := regexp.MustCompile(`epoch \d alone: compute (\S+) s, communication (\S+) s, fixed (\S+) s`).FindAllStringSubmatch(text, -1)
	if len(alone) != 2 {
		t.Fatalf("%d fits to each epoch alone, want 2", len(alone))
	}
	spread := 0.0
	for i := 1; i <= 3; i++ {
		spread = max(spread, math.Abs(atof(alone[0][i])-atof(alone[1][i])))
	}
	// The verdict follows from the spread: the terms are determined only if they move by at most 10% of t(1).
	if v := mustMatch(t, text, `the terms move by up to (\S+) s, against (\S+) s per epoch on one device \(the model's t\(1\)\)\nSo these runs (do not )?determine`); v != nil {
		if math.Abs(atof(v[1])-spread) > 0.002 || math.Abs(atof(v[2])-(c+fixed)) > 0.002 || (v[3] != "") != (spread > 0.1*atof(v[2])) {
			t.Errorf("%q does not follow from the epochs' fits %q (spread %.3f)", v[0], alone, spread)
		}
	}
	mustContain(t, text, "Time per epoch against devices: measured and t(N)", "rms residual ")
}

// lrRow matches a row of chapter 04's learning-rate experiment: name, batch, learning rate, steps, mean loss
// over the first tenth of the steps, test accuracy.
var lrRow = regexp.MustCompile(`(?m)^(B=\d+, lr .*?)\s+(\d+)\s+([0-9.]+)\s+(\d+)\s+([0-9.]+)\s+([0-9.]+)$`)

// chapter04LearningRate checks the learning-rate experiment: four runs on the same images, batch 32 and
// batch 128 (the same images: 4 times fewer steps), at the learning rates the names say, and what the
// prose says of them.
func chapter04LearningRate(t *testing.T, text string) {
	t.Helper()
	m := mustMatch(t, text, `smallNet, plain SGD, (\d+) epochs on (\d+) training images`)
	rows := lrRow.FindAllStringSubmatch(text, -1)
	if m == nil || len(rows) != 4 {
		t.Fatalf("the learning-rate experiment has %d runs, want 4: %q", len(rows), rows)
	}
	epochs, images := atoi(m[1]), atoi(m[2])
	acc, first := map[string]float64{}, map[string]float64{}
	for i, r := range rows {
		b, lr := atoi(r[2]), atof(r[3])
		wantB, wantLR := 128, 0.4
		switch i {
		case 0:
			wantB, wantLR = 32, 0.1
		case 1:
			wantLR = 0.1
		}
		if b != wantB || lr != wantLR || atoi(r[4]) != epochs*(images/b) || !(atof(r[6]) > 0) {
			t.Errorf("run %d should be batch %d at lr %g, %d steps: %q", i, wantB, wantLR, epochs*(images/wantB), r[0])
		}
		name := []string{"small", "unscaled", "scaled", "warm"}[i]
		acc[name], first[name] = atof(r[6]), atof(r[5])
	}
	if !strings.Contains(rows[3][1], "warm-up") || strings.Contains(rows[2][1], "warm-up") {
		t.Errorf("the last run, and only it, should have a warm-up: %q", rows)
	}
	// The prose: the unscaled large batch trails the small one; the scaled rate without warm-up jumps to many
	// times ln 10 in its first steps and ends near chance; with warm-up it trains, within 0.05 of the small batch.
	if !(acc["small"] > acc["unscaled"]) {
		t.Errorf("the large batch at the same learning rate should trail the small batch: %v", acc)
	}
	if !(first["scaled"] > 5*math.Log(10)) || !(acc["scaled"] < 0.2) {
		t.Errorf("the scaled rate without warm-up should blow up its first steps and end near chance: first-tenth losses %v, accuracies %v", first, acc)
	}
	if !(first["warm"] < 2*math.Log(10)) || !(math.Abs(acc["small"]-acc["warm"]) <= 0.05) {
		t.Errorf("with warm-up the scaled rate should train, to within 0.05 of the small batch: first-tenth losses %v, accuracies %v", first, acc)
	}
	mustContain(t, text, "Learning rate and batch size: training loss against images seen")
}
