package main

import (
	be "encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeIDX writes an unpacked IDX file of unsigned bytes: a tiny stand-in for a Fashion-MNIST file.
func writeIDX(t *testing.T, path string, dims []uint32, fill byte) {
	t.Helper()
	head := []byte{0, 0, 0x08, byte(len(dims))}
	n := 1
	for _, d := range dims {
		head = be.BigEndian.AppendUint32(head, d)
		n *= int(d)
	}
	data := make([]byte, n)
	for i := range data {
		data[i] = fill + byte(i%3)
	}
	if err := os.WriteFile(path, append(head, data...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTrainSaysWhereTheDataCameFrom: `gonbgpu train` prints one data line, the recipe's, with the
// dataset, the counts and the folder it was found in ($GONBGPU_DATA here); CIFAR-10 found nowhere fails
// with how to fetch it.
func TestTrainSaysWhereTheDataCameFrom(t *testing.T) {
	data := t.TempDir()
	dir := filepath.Join(data, "fashion-mnist")
	os.MkdirAll(dir, 0o755)
	for _, part := range []string{"train", "t10k"} {
		writeIDX(t, filepath.Join(dir, part+"-images-idx3-ubyte"), []uint32{8, 28, 28}, 10)
		writeIDX(t, filepath.Join(dir, part+"-labels-idx1-ubyte"), []uint32{8}, 0)
	}
	env := []string{"GONBGPU_DATA=" + data}
	stdout, stderr, code := gonbgpu(t, env, "train", "--dataset", "fashion-mnist", "--model", "resnet20", "--width", "0.25",
		"--epochs", "1", "--batch", "4", "--out", filepath.Join(t.TempDir(), "out"))
	if code != 0 {
		t.Fatalf("exit %d:\n%s\n%s", code, stdout, stderr)
	}
	var lines []string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(l, "data:") {
			lines = append(lines, l)
		}
	}
	want := "fashion-mnist, 8 training and 8 test images of 28×28×1, 10 classes (from " + dir + " in $GONBGPU_DATA)"
	if len(lines) != 1 || !strings.HasSuffix(lines[0], want) {
		t.Errorf("want one data line ending %q, got %q", want, lines)
	}

	_, stderr, code = gonbgpu(t, env, "train", "--dataset", "cifar10")
	for _, w := range []string{"cifar10 is not in " + filepath.Join(data, "cifar10"), "gonbgpu data fetch cifar10", "--data DIR"} {
		if code != 1 || !strings.Contains(stderr, w) {
			t.Errorf("--dataset cifar10 with no data: exit %d, want 1 and %q:\n%s", code, w, stderr)
		}
	}
}
