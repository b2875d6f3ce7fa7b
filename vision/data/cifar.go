package data

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// cifar10Classes are CIFAR-10's class names, used when batches.meta.txt is absent.
var cifar10Classes = []string{
	"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
}

// CIFAR10Classes returns the ten standard CIFAR-10 class names, indexed by label.
func CIFAR10Classes() []string { return slices.Clone(cifar10Classes) }

const (
	cifarSide   = 32
	cifarPixels = cifarSide * cifarSide * 3 // 3072
	// cifarRecord is the size of one record of the binary version: 1 label byte, then the 32×32 image as
	// three planes (all red values, all green, all blue), each row-major.
	cifarRecord = 1 + cifarPixels
)

// CIFAR10 reads the binary version of CIFAR-10 ("cifar-10-binary.tar.gz" unpacked): the training set
// from data_batch_1.bin … data_batch_5.bin (50000 images) and the test set from test_batch.bin (10000),
// all 32×32×3. dir may be the folder holding the files or the one holding cifar-10-batches-bin/. Class
// names come from batches.meta.txt when present, else the standard ten.
//
// The files' planar CHW records are converted to the HWC layout of [Set].
func CIFAR10(dir string) (train, test *Set, err error) {
	root := dir
	if _, err := os.Stat(filepath.Join(dir, "data_batch_1.bin")); err != nil {
		if _, err2 := os.Stat(filepath.Join(dir, "cifar-10-batches-bin", "data_batch_1.bin")); err2 == nil {
			root = filepath.Join(dir, "cifar-10-batches-bin")
		}
	}
	classes := cifar10Classes
	metaPath := filepath.Join(root, "batches.meta.txt")
	if meta, err := os.ReadFile(metaPath); err == nil {
		if classes, err = parseCIFARMeta(meta, metaPath); err != nil {
			return nil, nil, err
		}
	} else if !os.IsNotExist(err) {
		return nil, nil, err
	}
	trainFiles := make([]string, 5)
	for i := range trainFiles {
		trainFiles[i] = filepath.Join(root, fmt.Sprintf("data_batch_%d.bin", i+1))
	}
	if train, err = readCIFARFiles("cifar10/train", trainFiles, classes); err != nil {
		return nil, nil, err
	}
	if test, err = readCIFARFiles("cifar10/test", []string{filepath.Join(root, "test_batch.bin")}, classes); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// parseCIFARMeta reads the class names of batches.meta.txt: one per line, blank lines ignored.
func parseCIFARMeta(meta []byte, path string) ([]string, error) {
	var classes []string
	sc := bufio.NewScanner(bytes.NewReader(meta))
	for sc.Scan() {
		if name := strings.TrimSpace(sc.Text()); name != "" {
			classes = append(classes, name)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(classes) != len(cifar10Classes) {
		return nil, fmt.Errorf("%s: has %d class names, want %d (one per line)", path, len(classes), len(cifar10Classes))
	}
	return classes, nil
}

// readCIFARFiles reads and concatenates batch files into one set. Sizes are checked on all files before
// any pixel is allocated, so a wrong file is reported at once.
func readCIFARFiles(name string, paths []string, classes []string) (*Set, error) {
	n := 0
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if err := checkCIFARSize(p, fi.Size()); err != nil {
			return nil, err
		}
		n += int(fi.Size() / cifarRecord)
	}
	set := &Set{
		Name: name, N: n, H: cifarSide, W: cifarSide, C: 3,
		Pixels: make([]uint8, n*cifarPixels), Labels: make([]int32, n),
		Classes: slices.Clone(classes),
	}
	at := 0
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(io.LimitReader(f, int64(n-at)*cifarRecord+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if err := checkCIFARSize(p, int64(len(data))); err != nil {
			return nil, err // Changed since the Stat above.
		}
		k := len(data) / cifarRecord
		if at+k > n {
			return nil, fmt.Errorf("%s: grew while being read", p)
		}
		if err := decodeCIFAR(data, p, len(classes), set.Pixels[at*cifarPixels:(at+k)*cifarPixels], set.Labels[at:at+k]); err != nil {
			return nil, err
		}
		at += k
	}
	if at != n {
		return nil, fmt.Errorf("%s: files shrank while being read", name)
	}
	return set, set.Validate()
}

func checkCIFARSize(path string, size int64) error {
	if size == 0 || size%cifarRecord != 0 {
		return fmt.Errorf("%s: has %d bytes, not a positive multiple of the %d-byte CIFAR-10 record "+
			"(1 label byte + 32×32×3 pixels): truncated, or not a CIFAR-10 binary batch", path, size, cifarRecord)
	}
	return nil
}

// decodeCIFAR converts records (len(data) a multiple of cifarRecord) into HWC pixels and labels, which
// must have room for exactly len(data)/cifarRecord images.
func decodeCIFAR(data []byte, path string, numClasses int, pixels []uint8, labels []int32) error {
	const plane = cifarSide * cifarSide
	for r := range labels {
		rec := data[r*cifarRecord : (r+1)*cifarRecord]
		if int(rec[0]) >= numClasses {
			return fmt.Errorf("%s: record %d has label %d, want 0 to %d", path, r, rec[0], numClasses-1)
		}
		labels[r] = int32(rec[0])
		red, green, blue := rec[1:1+plane], rec[1+plane:1+2*plane], rec[1+2*plane:1+3*plane]
		out := pixels[r*cifarPixels : (r+1)*cifarPixels]
		for p := range plane {
			out[3*p], out[3*p+1], out[3*p+2] = red[p], green[p], blue[p]
		}
	}
	return nil
}
