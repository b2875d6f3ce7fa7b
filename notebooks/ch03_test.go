package notebooks_test

import (
	"math"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/ipynb"
)

func init() { checks["03-vanishing-gradients.ipynb"] = check03 }

// check03 asserts chapter 03's key facts (Vanishing gradients) from its executed outputs.
func check03(t *testing.T, nb *ipynb.Notebook, text string) {
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
}
