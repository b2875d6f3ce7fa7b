package notebooks_test

import (
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/ipynb"
)

func init() { checks["05-transfer-learning.ipynb"] = check05 }

// check05 asserts chapter 05's key facts (Transfer learning) from its executed outputs.
func check05(t *testing.T, nb *ipynb.Notebook, text string) {
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
}
