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

	"github.com/gonbgpu/gonbgpu/gpu/platform/memlimit"
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
	if meta, err := readMeta(metaPath); err == nil {
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

// readMeta reads batches.meta.txt, a regular file of at most maxMetaBytes.
func readMeta(path string) ([]byte, error) {
	f, _, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMetaBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > maxMetaBytes {
		return nil, fmt.Errorf("%s: larger than %d KiB: not CIFAR-10's list of ten class names", path, maxMetaBytes>>10)
	}
	return data, nil
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

// cifarBatchRecords is the number of records of every CIFAR-10 batch file (a variable for tests, which
// write small batches).
var cifarBatchRecords = 10000

// maxMetaBytes bounds batches.meta.txt, ten class names.
const maxMetaBytes = 64 << 10

// readCIFARFiles reads and concatenates batch files into one set. Every file must be a regular file of
// exactly the format's size (cifarBatchRecords records), checked on all files before any pixel is
// allocated, so a wrong file is reported at once and a huge one is never read.
func readCIFARFiles(name string, paths []string, classes []string) (*Set, error) {
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: %s, not a regular file: not read", p, describeMode(fi.Mode()))
		}
		if err := checkCIFARSize(p, fi.Size()); err != nil {
			return nil, err
		}
	}
	n := len(paths) * cifarBatchRecords
	batchBytes := cifarBatchRecords * cifarRecord
	if err := memlimit.Check(fmt.Sprintf("%s (%d CIFAR-10 images)", name, n), int64(n)*(cifarPixels+4)+int64(batchBytes)); err != nil {
		return nil, err
	}
	set := &Set{
		Name: name, N: n, H: cifarSide, W: cifarSide, C: 3,
		Pixels: make([]uint8, n*cifarPixels), Labels: make([]int32, n),
		Classes: slices.Clone(classes),
	}
	buf := make([]byte, batchBytes) // one file at a time, of the size checked above and no more
	for i, p := range paths {
		if err := readCIFARBatch(p, buf); err != nil {
			return nil, err
		}
		at := i * cifarBatchRecords
		if err := decodeCIFAR(buf, p, len(classes), set.Pixels[at*cifarPixels:(at+cifarBatchRecords)*cifarPixels],
			set.Labels[at:at+cifarBatchRecords]); err != nil {
			return nil, err
		}
	}
	return set, set.Validate()
}

// readCIFARBatch fills buf with the batch file at path, which must hold exactly len(buf) bytes.
func readCIFARBatch(path string, buf []byte) error {
	f, fi, err := openRegular(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := checkCIFARSize(path, fi.Size()); err != nil {
		return err // Changed since the first check.
	}
	if n, err := io.ReadFull(f, buf); err != nil {
		return fmt.Errorf("%s: shrank to %d bytes while being read (%s)", path, n, describeReadErr(err))
	}
	var extra [1]byte
	if n, _ := f.Read(extra[:]); n > 0 {
		return fmt.Errorf("%s: grew while being read", path)
	}
	return nil
}

// checkCIFARSize accepts the size of a CIFAR-10 binary batch: cifarBatchRecords records.
func checkCIFARSize(path string, size int64) error {
	if want := int64(cifarBatchRecords) * cifarRecord; size != want {
		return fmt.Errorf("%s: has %d bytes, not the %d of a CIFAR-10 binary batch (%d records of 1 label byte + "+
			"32×32×3 pixels = %d bytes): truncated, or not a CIFAR-10 batch file", path, size, want, cifarBatchRecords, cifarRecord)
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
