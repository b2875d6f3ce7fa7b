package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gonbgpu/gonbgpu/internal/onnxtest"
)

// TestTrainPretrained fine-tunes an imported ONNX ResNet-18 (narrow, random weights) on a folder with
// `gonbgpu train --pretrained FILE --freeze-backbone`, and checks that bad files and flags fail with one
// message naming them.
func TestTrainPretrained(t *testing.T) {
	dir := writeFolder(t, false)
	tmp := t.TempDir()
	file := filepath.Join(tmp, "resnet18.onnx")
	good := onnxtest.ResNet(onnxtest.Options{Model: "resnet18", Divisor: 16, Classes: 1000, Size: 32, Seed: 1})
	if err := os.WriteFile(file, good, 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"train", "--dataset", "folder", "--data", dir, "--size", "16", "--epochs", "1", "--batch", "4"}
	stdout, stderr, code := gonbgpu(t, nil, append(base, "--pretrained", file, "--freeze-backbone", "--pretrained-size", "32",
		"--out", filepath.Join(tmp, "out"))...)
	if code != 0 || !strings.Contains(stdout, "pretrained: resnet18 from "+file) || !strings.Contains(stdout, "backbone frozen") ||
		!strings.Contains(stdout, "test accuracy") {
		t.Fatalf("fine-tuning run: exit %d\n%s\n%s", code, stdout, stderr)
	}

	// Issue 26: an untrained model, as torch.onnx.export writes it (zero folded biases shared through
	// Identity nodes), is read (a depth mismatch is the only error, found after reading the whole file).
	untrained := filepath.Join(tmp, "untrained.onnx")
	if err := os.WriteFile(untrained, onnxtest.ResNet(onnxtest.Options{Model: "resnet18", Divisor: 16, Classes: 1000, Size: 32, Seed: 1,
		Folded: true, Untrained: true}), 0o644); err != nil {
		t.Fatal(err)
	}
	mlp := filepath.Join(tmp, "mlp.onnx")
	truncated := filepath.Join(tmp, "truncated.onnx")
	if err := os.WriteFile(mlp, onnxtest.MLP(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(truncated, good[:len(good)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--pretrained", mlp}, mlp + ": not a torchvision ResNet"},
		{[]string{"--pretrained", truncated}, truncated + ": not a readable ONNX model"},
		{[]string{"--pretrained", file, "--model", "resnet50"}, "holds a resnet18"},
		{[]string{"--pretrained", untrained, "--model", "resnet50"}, untrained + " holds a resnet18 (3-channel input, stem of 4 channels, 1000 classes, batch norms folded"},
		{[]string{"--pretrained", filepath.Join(tmp, "missing.onnx")}, "missing.onnx: no such file"},
		{[]string{"--freeze-backbone"}, "needs --pretrained FILE.onnx or --init-from RUN_DIR"},
	} {
		_, stderr, code := gonbgpu(t, nil, append(base, c.args...)...)
		if code != 1 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "goroutine") {
			t.Errorf("%v: exit %d, want 1 with a message containing %q and no panic:\n%s", c.args, code, c.want, stderr)
		}
	}
}
