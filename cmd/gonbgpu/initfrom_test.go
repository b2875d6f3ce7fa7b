package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainInitFrom trains a source run on a folder, then fine-tunes from it with `gonbgpu train
// --init-from RUN_DIR --freeze-backbone`; a folder without a checkpoint and another width fail with one
// message naming --init-from.
func TestTrainInitFrom(t *testing.T) {
	dir := writeFolder(t, false)
	tmp := t.TempDir()
	src := filepath.Join(tmp, "source")
	base := []string{"train", "--dataset", "folder", "--data", dir, "--size", "16", "--model", "resnet20", "--epochs", "1", "--batch", "4"}
	if stdout, stderr, code := gonbgpu(t, nil, append(base, "--width", "0.25", "--out", src)...); code != 0 {
		t.Fatalf("source run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	stdout, stderr, code := gonbgpu(t, nil, append(base, "--width", "0.25", "--init-from", src, "--freeze-backbone",
		"--out", filepath.Join(tmp, "target"))...)
	if code != 0 || !strings.Contains(stdout, "init:     "+src+"'s weights (resnet20-w0.25, ckpt-0001-000000)") ||
		!strings.Contains(stdout, "backbone frozen") || !strings.Contains(stdout, "resnet20-w0.25-finetuned-frozen") ||
		!strings.Contains(stdout, "test accuracy") {
		t.Fatalf("fine-tuning run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	empty := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--width", "0.25", "--init-from", empty}, "--init-from " + empty + ": no checkpoint in"},
		{[]string{"--width", "0.5", "--init-from", src}, "--init-from " + src + ": its checkpoint"},
		{[]string{"--width", "0.25", "--init-from", src, "--out", src}, "is also --out"},
	} {
		_, stderr, code := gonbgpu(t, nil, append(base, c.args...)...)
		if code != 1 || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "goroutine") {
			t.Errorf("%v: exit %d, want 1 with a message containing %q and no panic:\n%s", c.args, code, c.want, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(src, "history.json")); err != nil {
		t.Errorf("the source run's folder was changed: %v", err)
	}
}
