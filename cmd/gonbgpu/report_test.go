package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/vision/trainer"
)

func writeHistory(t *testing.T, dir string, used int, secs ...float64) {
	t.Helper()
	h := &trainer.History{Model: "resnet20", Config: trainer.Config{BatchSize: 64 * used},
		Env: []trainer.Environment{{Devices: 2, Used: used}}}
	for i, s := range secs {
		h.Epochs = append(h.Epochs, trainer.Epoch{Epoch: i + 1, Seconds: s, TestAcc: 0.5 + 0.1*float64(i)})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := h.Save(dir); err != nil {
		t.Fatal(err)
	}
}

func TestReport(t *testing.T) {
	dir := t.TempDir()
	one, two := filepath.Join(dir, "one"), filepath.Join(dir, "two")
	writeHistory(t, one, 1, 9, 8, 8)
	writeHistory(t, two, 2, 6, 4, 4)
	plots := filepath.Join(dir, "plots")
	stdout, stderr, code := gonbgpu(t, nil, "report", "--target", "0.6", "--plots", plots, one, two)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"two", "2.00x", "s to 0.60", "report-3.svg"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(plots, "report-3.svg")); err != nil {
		t.Errorf("speedup figure not written: %v", err)
	}
	// A second run into the same folder refuses to replace the figures.
	if _, stderr, code := gonbgpu(t, nil, "report", "--plots", plots, one, two); code != 1 || !strings.Contains(stderr, "exists already") {
		t.Errorf("exit %d, want 1 and a refusal to overwrite: %s", code, stderr)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"report"}, 2, "give one or more run folders"},
		{[]string{"report", filepath.Join(dir, "nope")}, 1, "nope"},
		{[]string{"report", dir}, 1, "has no history.json"},
		{[]string{"report", "--target", "7", one}, 1, "--target"},
	} {
		_, stderr, code := gonbgpu(t, nil, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "goroutine") {
			t.Errorf("%v: exit %d, want %d with %q and no panic:\n%s", c.args, code, c.code, c.want, stderr)
		}
	}
}
