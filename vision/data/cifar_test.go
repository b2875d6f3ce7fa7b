package data

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// cifarRecords returns n CIFAR-10 binary records with labels from labelOf; the value of channel c at
// pixel p of record r is byte(r*31 + c*97 + p).
func cifarRecords(n int, labelOf func(r int) byte) []byte {
	data := make([]byte, 0, n*cifarRecord)
	for r := range n {
		data = append(data, labelOf(r))
		for c := range 3 {
			for p := range 1024 {
				data = append(data, byte(r*31+c*97+p))
			}
		}
	}
	return data
}

// writeCIFAR writes the six batch files into dir, with per records each, labels counting modulo 10.
// Batch files must hold cifarBatchRecords records: it is set to per for the test.
func writeCIFAR(t *testing.T, dir string, per int) {
	t.Helper()
	old := cifarBatchRecords
	cifarBatchRecords = per
	t.Cleanup(func() { cifarBatchRecords = old })
	for i := 1; i <= 5; i++ {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("data_batch_%d.bin", i)), cifarRecords(per, func(r int) byte { return byte((r + i) % 10) }))
	}
	writeFile(t, filepath.Join(dir, "test_batch.bin"), cifarRecords(per, func(r int) byte { return byte(r % 10) }))
}

func TestCIFAR10(t *testing.T) {
	for _, sub := range []string{"", "cifar-10-batches-bin"} {
		dir := t.TempDir()
		writeCIFAR(t, filepath.Join(dir, sub), 3)
		train, test, err := CIFAR10(dir)
		if err != nil {
			t.Fatalf("sub=%q: %v", sub, err)
		}
		if train.N != 15 || test.N != 3 || train.H != 32 || train.W != 32 || train.C != 3 {
			t.Fatalf("sub=%q: read %v and %v", sub, train, test)
		}
		if !slices.Equal(train.Classes, CIFAR10Classes()) || train.Classes[9] != "truck" {
			t.Errorf("classes %v", train.Classes)
		}
		// Record 1 of data_batch_2 is training image 4: label (1+2)%10, pixels converted CHW → HWC.
		if train.Labels[4] != 3 {
			t.Errorf("label of image 4 = %d, want 3", train.Labels[4])
		}
		img := train.Image(4)
		for _, p := range []int{0, 1, 33, 1023} {
			for c := range 3 {
				if got, want := img[p*3+c], byte(1*31+c*97+p); got != want {
					t.Fatalf("image 4 pixel %d channel %d = %d, want %d", p, c, got, want)
				}
			}
		}
	}
}

func TestCIFAR10Meta(t *testing.T) {
	dir := t.TempDir()
	writeCIFAR(t, dir, 1)
	writeFile(t, filepath.Join(dir, "batches.meta.txt"), []byte("zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n\n"))
	train, _, err := CIFAR10(dir)
	if err != nil {
		t.Fatal(err)
	}
	if train.Classes[0] != "zero" || train.Classes[9] != "nine" || len(train.Classes) != 10 {
		t.Errorf("classes from batches.meta.txt = %v", train.Classes)
	}
	meta := writeFile(t, filepath.Join(dir, "batches.meta.txt"), []byte("a\nb\n"))
	_, _, err = CIFAR10(dir)
	wantErr(t, err, meta, "has 2 class names, want 10")
}

func TestCIFAR10Errors(t *testing.T) {
	dir := t.TempDir()
	writeCIFAR(t, dir, 2)
	truncated := writeFile(t, filepath.Join(dir, "data_batch_3.bin"), cifarRecords(2, func(int) byte { return 1 })[:2*cifarRecord-100])
	_, _, err := CIFAR10(dir)
	wantErr(t, err, truncated, fmt.Sprintf("has %d bytes", 2*cifarRecord-100), "3073")

	writeCIFAR(t, dir, 2)
	badLabel := writeFile(t, filepath.Join(dir, "test_batch.bin"), cifarRecords(2, func(r int) byte { return byte(9 + r) }))
	_, _, err = CIFAR10(dir)
	wantErr(t, err, badLabel, "record 1 has label 10")

	empty := writeFile(t, filepath.Join(dir, "test_batch.bin"), nil)
	_, _, err = CIFAR10(dir)
	wantErr(t, err, empty, "has 0 bytes")

	_, _, err = CIFAR10(filepath.Join(dir, "nowhere"))
	wantErr(t, err, filepath.Join(dir, "nowhere", "data_batch_1.bin"))
}

// TestCIFAR10Sizes: a batch file must have the format's size, 10000 records; a larger one (here two
// batches concatenated, 61 MB, sparse on disk) is refused from its size, before anything is read, and so
// is one record short. The old code accepted any multiple of the record size and read it whole.
func TestCIFAR10Sizes(t *testing.T) {
	if cifarBatchRecords != 10000 {
		t.Fatalf("cifarBatchRecords = %d, want CIFAR-10's 10000", cifarBatchRecords)
	}
	for _, records := range []int64{20000, 9999, 3} {
		dir := t.TempDir()
		for _, name := range []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin"} {
			f, err := os.Create(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			size := int64(10000 * cifarRecord)
			if name == "data_batch_2.bin" {
				size = records * cifarRecord
			}
			if err := f.Truncate(size); err != nil { // sparse: no disk used
				t.Fatal(err)
			}
			f.Close()
		}
		var err error
		allocated := allocatedBy(func() { _, _, err = CIFAR10(dir) })
		wantErr(t, err, filepath.Join(dir, "data_batch_2.bin"), fmt.Sprintf("has %d bytes, not the 30730000 of a CIFAR-10 binary batch", records*cifarRecord))
		if allocated > 1<<20 {
			t.Errorf("%d records: allocated %d MiB before refusing", records, allocated>>20)
		}
	}
}

// TestCIFAR10SpecialFiles: a named pipe in place of a batch file or of batches.meta.txt is refused at
// once; the old code hung opening batches.meta.txt.
func TestCIFAR10SpecialFiles(t *testing.T) {
	dir := t.TempDir()
	writeCIFAR(t, dir, 2)
	meta := filepath.Join(dir, "batches.meta.txt")
	if err := syscall.Mkfifo(meta, 0o644); err != nil {
		t.Skipf("cannot make a named pipe here: %v", err)
	}
	done := make(chan error, 1)
	go func() { _, _, err := CIFAR10(dir); done <- err }()
	select {
	case err := <-done:
		wantErr(t, err, meta, "named pipe", "not a regular file")
	case <-time.After(hangGuard):
		t.Fatal("CIFAR10 hangs on a named pipe")
	}
	os.Remove(meta)
	batch := filepath.Join(dir, "data_batch_4.bin")
	os.Remove(batch)
	if err := syscall.Mkfifo(batch, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := CIFAR10(dir)
	wantErr(t, err, batch, "named pipe", "not a regular file")
}
