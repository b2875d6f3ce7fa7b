package notebooks_test

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/ipynb"
)

func init() { checks["03-vanishing-gradients.ipynb"] = check03 }

// check03 asserts chapter 03's key facts (Vanishing gradients) from its executed outputs.
func check03(t *testing.T, nb *ipynb.Notebook, text string) {
	prose := proseOf(nb)
	// The sigmoid's derivative peaks at 1/4, at 0.
	if m := mustMatch(t, text, `largest derivative of the sigmoid: ([0-9.]+) at x = ([-0-9.]+);`); m != nil && (math.Abs(atof(m[1])-0.25) > 1e-3 || atof(m[2]) != 0) {
		t.Errorf("sigmoid derivative: %s", m[0])
	}
	check03Sigmoids(t, text, prose)
	// Initialisation: weights of std 1 explode the activations, Xavier shrinks them under ReLU, He keeps
	// them; the gradient coming back to the input does the same, as the text says ("through the same
	// weights, backwards"); std 1 grows the spread by about √(n/2) per layer.
	if m := mustMatch(t, text, `after 30 layers: std 1 → (\S+), Xavier → (\S+), He → (\S+) `); m != nil {
		if std1, xavier, he := atof(m[1]), atof(m[2]), atof(m[3]); std1 < 1e10 || xavier > 1e-2 || he < 0.1 || he > 10 {
			t.Errorf("initialisation spreads: %s", m[0])
		}
	}
	if m := mustMatch(t, text, `gradient at the input / at the output: std 1 → (\S+), Xavier → (\S+), He → (\S+)\n`); m != nil {
		if std1, xavier, he := atof(m[1]), atof(m[2]), atof(m[3]); std1 < 1e10 || xavier > 1e-2 || he < 0.1 || he > 10 {
			t.Errorf("initialisation, backwards: %s", m[0])
		}
	}
	if m := mustMatch(t, text, `with std 1 the spread grows ×([0-9.]+) per layer; √\(n/2\) = ([0-9.]+)`); m != nil && math.Abs(atof(m[1])/atof(m[2])-1) > 0.1 {
		t.Errorf("the spread should grow by about √(n/2) per layer: %s", m[0])
	}
	check03Twins(t, text)
	check03Degradation(t, text, prose)
	mustContain(t, text, "resnet56-plain")
	mustContain(t, prose, "## On a GPU", "## Exercises")
	figuresLabelled(t, text)
	mustPlot(t, text, 9)
}

// check03Sigmoids: 20 sigmoid layers shrink the gradient by at most Π 0.25‖W_l‖, which is 0.25^20 only
// when every ‖W_l‖ ≤ 1; with large weights the bound passes 1 and the gradient can grow.
func check03Sigmoids(t *testing.T, text, prose string) {
	t.Helper()
	re := regexp.MustCompile(`c = (\S+)\s+‖W_l‖ from ([0-9.]+) to ([0-9.]+): bound Π 0.25‖W_l‖ = (\S+), measured gradient at the input / at the output = (\S+) \(mean σ' ([0-9.]+)\)`)
	rows := re.FindAllStringSubmatch(text, -1)
	if len(rows) != 4 {
		t.Errorf("%d rows of the 20-sigmoid-layer experiment, want 4 (c = 0.4, 1, 4, 16)", len(rows))
		return
	}
	slope := math.Inf(1)
	for _, m := range rows {
		if bound, measured := atof(m[4]), atof(m[5]); !(measured > 0 && measured <= bound) {
			t.Errorf("the measured gradient must stay under its bound: %s", m[0])
		}
		if s := atof(m[6]); s >= slope || s > 0.25 {
			t.Errorf("the mean σ' should fall as the weights grow, and stay under 1/4: %s", m[0])
		} else {
			slope = s
		}
	}
	small, large := rows[0], rows[3]
	if small[1] != "0.4" || atof(small[3]) > 1 || atof(small[4]) > math.Pow(0.25, 20) {
		t.Errorf("with every ‖W_l‖ ≤ 1 the bound is at most 0.25^20: %s", small[0])
	}
	if large[1] != "16" || atof(large[4]) <= 1 || atof(large[5]) <= 1 {
		t.Errorf("with c = 16 the bound passes 1 and the gradient reaching the input is larger than at the output, as the text says: %s", large[0])
	}
	mustContain(t, text, fmt.Sprintf("0.25^20 = %.2g", math.Pow(0.25, 20)))
	if strings.Contains(prose, "whatever the weights") || strings.Contains(text, "whatever the weights") {
		t.Errorf("0.25^20 bounds the gradient only for weights of norm ≤ 1, not whatever the weights")
	}
	mustContain(t, prose, `every $\|W_l\| \le 1$, and only then`)
}

// check03Twins: at initialisation the plain twin's gradient explodes towards the input and the residual
// twin's stays in a narrower band; after training the plain twin's first layer learns far more slowly,
// and, as the text says, mostly because its weights grew, not because its gradient faded.
func check03Twins(t *testing.T, text string) {
	t.Helper()
	if m := mustMatch(t, text, `first layer at initialisation: plain (\S+), residual (\S+)\n`); m != nil && atof(m[1]) <= atof(m[2]) {
		t.Errorf("the plain net's first-layer gradient at initialisation should be the larger: %s", m[0])
	}
	if m := mustMatch(t, text, `the gradient grows ×([0-9.]+) per layer on average`); m != nil && atof(m[1]) <= 1.01 {
		t.Errorf("the plain net's gradient should grow towards the input: %s", m[0])
	}
	if m := mustMatch(t, text, `largest / smallest gradient norm across the layers: plain (\S+), residual (\S+)\n`); m != nil && atof(m[2]) >= atof(m[1]) {
		t.Errorf("the residual net's gradients should stay within a narrower band: %s", m[0])
	}
	if m := mustMatch(t, text, `first-layer relative gradient after training: plain (\S+), residual (\S+) `); m != nil {
		plain, res := atof(m[1]), atof(m[2])
		if plain <= 0 || res < 10*plain {
			t.Errorf("the plain net's first-layer relative gradient (%g) should be far below the residual net's (%g)", plain, res)
		}
	}
	if m := mustMatch(t, text, `first-layer weight norm: plain (\S+) at initialisation → (\S+) after training \(×([0-9.]+)\); residual (\S+) → (\S+) \(×([0-9.]+)\)`); m != nil {
		if atof(m[3]) < 3 || atof(m[3]) < 3*atof(m[6]) {
			t.Errorf("the plain net's first-layer weights should have grown many times, the residual net's barely: %s", m[0])
		}
	}
	if m := mustMatch(t, text, `the (\d+)× gap in relative gradient = the gradient's ([0-9.]+)× × the weight norm's ([0-9.]+)×`); m != nil && atof(m[3]) <= atof(m[2]) {
		t.Errorf("the text says the weights' norm accounts for more of the gap than the gradient: %s", m[0])
	}
	if m := mustMatch(t, text, `one step of lr × gradient on the first layer: plain (\S+), residual (\S+), against a weight norm of (\S+)\n`); m != nil && atof(m[1]) <= atof(m[3]) {
		t.Errorf("the text says the plain net's first steps were larger than its weights: %s", m[0])
	}
	if m := mustMatch(t, text, `final training accuracy: plain ([0-9.]+), residual ([0-9.]+)`); m != nil && atof(m[1]) >= atof(m[2]) {
		t.Errorf("the plain net should be behind after the same steps: plain %s, residual %s", m[1], m[2])
	}
}

// check03Degradation: the comparison of plain-20 and plain-56 calls nothing a degradation unless both
// training losses have stopped falling, its verdict follows from its own numbers, and on the CPU's 30
// steps the prose's reading (a slower start, losses still falling) is what the numbers show.
func check03Degradation(t *testing.T, text, prose string) {
	t.Helper()
	m := mustMatch(t, text, `after (\d+) steps: training accuracy plain-20 ([0-9.]+), plain-56 ([0-9.]+); training loss plain-20 ([0-9.]+), plain-56 ([0-9.]+)`)
	f := mustMatch(t, text, `the last epoch lowered the training loss by: plain-20 (-?[0-9.]+)%, plain-56 (-?[0-9.]+)%`)
	v := mustMatch(t, text, `verdict: ([^\n]*)`)
	if m == nil || f == nil || v == nil {
		return
	}
	steps, a20, a56 := atoi(m[1]), atof(m[2]), atof(m[3])
	settled := atof(f[1]) < 2 && atof(f[2]) < 2
	degraded := strings.Contains(v[1], "the degradation He et al. reported")
	switch {
	case degraded && !(settled && a56 < a20):
		t.Errorf("a degradation declared without both losses settled and plain-56 behind: %s", v[0])
	case settled && a56 < a20 && !degraded:
		t.Errorf("the verdict misses what the numbers show: %s", v[0])
	case !settled && a56 < a20 && !strings.Contains(v[1], "is behind after") && !strings.Contains(v[1], "still falling"):
		t.Errorf("the verdict should say plain-56 is behind while the losses still fall: %s", v[0])
	case a56 >= a20 && strings.Contains(v[1], "is behind"):
		t.Errorf("plain-56 is not behind, but the verdict says so: %s", v[0])
	}
	if steps == 30 && !(a56 < a20 && !settled) {
		t.Errorf("the text reads the CPU's 30 steps as a slower start with the losses still falling; the numbers say otherwise: %s / %s", m[0], f[0])
	}
	if strings.Contains(prose, "trains worse on its own training data: the degradation") {
		t.Errorf("the prose declares a degradation")
	}
	mustContain(t, prose, "64,000 steps")
}
