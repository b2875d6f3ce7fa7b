package notebooks_test

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/ipynb"
)

func init() { checks["05-transfer-learning.ipynb"] = check05 }

// meanSD05 is the mean and the sample standard deviation (n-1) of xs, as the chapter computes them.
func meanSD05(xs []float64) (mean, sd float64) {
	for _, x := range xs {
		mean += x / float64(len(xs))
	}
	for _, x := range xs {
		sd += (x - mean) * (x - mean) / float64(len(xs)-1)
	}
	return mean, math.Sqrt(sd)
}

// check05 asserts chapter 05's key facts (Transfer learning) from its executed outputs.
func check05(t *testing.T, nb *ipynb.Notebook, text string) {
	// The source task learned its five classes.
	if m := mustMatch(t, text, `source task: \S+, test accuracy ([0-9.]+) on its 5 classes`); m != nil && atof(m[1]) < 0.5 {
		t.Errorf("source task: test accuracy %s is not well above chance (0.20)", m[1])
	}
	mustContain(t, text, "init:     runs/05-transfer/source's weights", "new 5-class head, backbone frozen",
		"resnet20-w0.5-finetuned-frozen", "resnet20-w0.5-finetuned,",
		// the head learns at 10× the backbone's rate in both transferred runs
		"sgd lr 0.01 (onecycle), new head lr 0.1 (×10)",
		// the target runs evaluate a validation split every epoch, not the test set
		"training, 50 validation and 300 test images", " val_loss   val_acc ")

	// Every target run chose its epoch on validation and was tested once: 3 seeds × 3 kinds, seeds outer.
	kinds := []string{"frozen", "fine-tuned", "scratch"}
	sel := regexp.MustCompile(`selected epoch (\d+) of 10 on validation \(val_acc ([0-9.]+)\): test_acc ([0-9.]+)`).FindAllStringSubmatch(text, -1)
	if len(sel) != 9 {
		t.Fatalf("%d runs report their selected epoch, want 9 (3 seeds × frozen, fine-tuned, scratch)", len(sel))
	}

	// The table: mean ± sd over the three seeds, each seed's figure listed, and the chosen epochs.
	rows := regexp.MustCompile(`(?m)^(frozen|fine-tuned|scratch)\s+(\d+)\s+([0-9.]+) ± ([0-9.]+)\s+\[([0-9. ]+)\]\s+([0-9,]+)\s+([0-9.]+)$`).FindAllStringSubmatch(text, -1)
	if len(rows) != 3 {
		t.Fatalf("the comparison table has %d rows, want 3 (frozen, fine-tuned, scratch)", len(rows))
	}
	row, accs, means, sds := map[string][]string{}, map[string][]float64{}, map[string]float64{}, map[string]float64{}
	for _, r := range rows {
		kind := r[1]
		row[kind] = r
		fields := strings.Fields(r[5])
		epochs := strings.Split(r[6], ",")
		if len(fields) != 3 || len(epochs) != 3 {
			t.Fatalf("%q: want 3 seeds' accuracies and epochs", r[0])
		}
		k := 0
		for i, kk := range kinds {
			if kk == kind {
				k = i
			}
		}
		for s, f := range fields {
			a := atof(f)
			if !(a >= 0 && a <= 1) {
				t.Errorf("accuracy %s out of [0, 1] in %q", f, r[0])
			}
			accs[kind] = append(accs[kind], a)
			// The same figure as the run's own selection line (seed s, kind k).
			if got := sel[3*s+k]; got[3] != f || got[1] != epochs[s] {
				t.Errorf("%s, seed %d: the table says test %s at epoch %s, the run said %q", kind, s+1, f, epochs[s], got[0])
			}
		}
		m, sd := meanSD05(accs[kind])
		means[kind], sds[kind] = m, sd
		if math.Abs(m-atof(r[3])) > 1e-4 || math.Abs(sd-atof(r[4])) > 1e-4 {
			t.Errorf("%q: the seeds' figures give %.4f ± %.4f", r[0], m, sd)
		}
		// A spread: three seeds that give three equal figures would mean the seed changes nothing.
		if sd == 0 {
			t.Errorf("%q: no spread over the seeds (sd 0)", r[0])
		}
		if atof(r[7]) <= 0 {
			t.Errorf("no time measured in %q", r[0])
		}
	}
	if atoi(row["frozen"][2]) >= atoi(row["fine-tuned"][2]) || row["fine-tuned"][2] != row["scratch"][2] {
		t.Errorf("trained parameters: frozen %s should be far fewer than fine-tuned %s, which equals scratch %s",
			row["frozen"][2], row["fine-tuned"][2], row["scratch"][2])
	}
	if atof(row["frozen"][7]) >= atof(row["fine-tuned"][7]) {
		t.Errorf("the frozen run (%s s) should be faster than fine-tuning (%s s)", row["frozen"][7], row["fine-tuned"][7])
	}
	// The text says the frozen head, on features of clothes, does worse than fine-tuning on shoes and bags.
	if means["frozen"] >= means["fine-tuned"] {
		t.Errorf("the frozen runs (%.4f) should be less accurate than fine-tuning (%.4f), as the text says", means["frozen"], means["fine-tuned"])
	}
	if means["frozen"] < 0.3 || means["fine-tuned"] < 0.5 || means["scratch"] < 0.3 {
		t.Errorf("accuracies not clearly above chance (0.20): frozen %.4f, fine-tuned %.4f, scratch %.4f",
			means["frozen"], means["fine-tuned"], means["scratch"])
	}
	// The sentence under the plot: the difference of means and its standard error, from the same figures.
	if m := mustMatch(t, text, `fine-tuned − scratch: ([+-][0-9.]+) points \(standard error ([0-9.]+) points, from 3 seeds each\)`); m != nil {
		d := 100 * (means["fine-tuned"] - means["scratch"])
		se := 100 * math.Sqrt(sds["fine-tuned"]*sds["fine-tuned"]/3+sds["scratch"]*sds["scratch"]/3)
		if math.Abs(d-atof(m[1])) > 0.06 || math.Abs(se-atof(m[2])) > 0.06 {
			t.Errorf("%q does not match the table (%+.2f points, standard error %.2f)", m[0], d, se)
		}
	}
	// "fine-tuning gets ahead early": the third epoch's mean validation accuracy.
	if m := mustMatch(t, text, `validation accuracy after epoch 3, mean of the seeds: frozen ([0-9.]+), fine-tuned ([0-9.]+), scratch ([0-9.]+)`); m != nil && atof(m[2]) <= atof(m[3]) {
		t.Errorf("%q: the text says fine-tuning gets ahead of scratch early", m[0])
	}
	// The frozen probe's stability: its training loss falls in most epochs, and its validation accuracy
	// moves from epoch to epoch about as much as the other runs' (within one validation image, 0.02).
	stab := regexp.MustCompile(`(?m)^(frozen|fine-tuned|scratch)\s+(\d+) of (\d+) epochs\s+([0-9.]+)$`).FindAllStringSubmatch(text, -1)
	if len(stab) != 3 {
		t.Errorf("the stability table has %d rows, want 3", len(stab))
	} else {
		moves := map[string]float64{}
		for _, r := range stab {
			if atoi(r[3]) != 27 {
				t.Errorf("%q: want 27 epoch-to-epoch steps (3 seeds × 9)", r[0])
			}
			moves[r[1]] = atof(r[4])
			if r[1] == "frozen" && 2*atoi(r[2]) >= atoi(r[3]) {
				t.Errorf("%q: the text says the frozen probe's training loss falls in most epochs", r[0])
			}
		}
		if others := (moves["fine-tuned"] + moves["scratch"]) / 2; math.Abs(moves["frozen"]-others) > 0.02 {
			t.Errorf("the frozen probe's validation accuracy moves %.3f per epoch, the others' %.3f: not \"about as much\"", moves["frozen"], others)
		}
	}
	if m := mustMatch(t, text, `frozen: ([0-9.]+) ± ([0-9.]+) against chance 0.20`); m != nil && m[1] != row["frozen"][3] {
		t.Errorf("%q does not match the table's %s", m[0], row["frozen"][3])
	}
	// Predictions from the reopened seed-1 runs, with the chosen epoch's weights, reproduce their test figure.
	for k, kind := range []string{"fine-tuned", "scratch"} {
		k++ // index in kinds
		if m := mustMatch(t, text, kind+`, seed 1: the weights of epoch (\d+), chosen on validation`); m != nil && m[1] != sel[k][1] {
			t.Errorf("%s: the predictions use epoch %s, the run chose %s", kind, m[1], sel[k][1])
		}
		if m := mustMatch(t, text, kind+`: (\d+) of (\d+) test images right \(([0-9.]+)\)`); m != nil && m[3] != sel[k][3] {
			t.Errorf("%s: the predictions' accuracy %s differs from the run's %s", kind, m[3], sel[k][3])
		}
	}
	// The arrow reads as in chapter 04: true class → prediction.
	mustContain(t, text, "framed: true class → prediction")
	if got := strings.Count(text, `class="gonbgpu-images"`); got < 4 {
		t.Errorf("%d image grids shown, want 4 (source, target, two models' predictions)", got)
	}
	mustPlot(t, text, 1)
	// The import, checked against PyTorch on the tests' small ResNet-18.
	mustContain(t, text, "read: resnet18 from ", "imported: ")
	if m := mustMatch(t, text, `max \|gonbgpu − PyTorch\| = (\S+) over 20 logits \(largest \|logit\| ([0-9.]+)\)`); m != nil {
		var d float64
		fmt.Sscan(m[1], &d)
		if !(d < 1e-4) || atof(m[2]) < 0.1 {
			t.Errorf("%q: the import does not reproduce PyTorch's logits within 1e-4", m[0])
		}
	}
	// Real ImageNet weights: measured when the file is there, else where the cell looked and what it would run.
	if !strings.Contains(text, "resnet18-pretrained-frozen ") {
		mustContain(t, text, "no ImageNet ResNet-18 at ", "torch.onnx.export(torchvision.models.resnet18(weights=",
			"It would then train, and print a row for each:", "resnet18-pretrained-frozen: ", "resnet18-pretrained: ")
	}
}
