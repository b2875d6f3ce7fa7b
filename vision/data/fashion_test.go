package data

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFashionMNIST(t *testing.T) {
	for _, gz := range []bool{false, true} {
		dir := t.TempDir()
		pixels, labels := writeFashion(t, dir, 7, 3, gz)
		train, test, err := FashionMNIST(dir)
		if err != nil {
			t.Fatalf("gz=%v: %v", gz, err)
		}
		if train.N != 7 || test.N != 3 || train.H != 4 || train.W != 3 || train.C != 1 {
			t.Fatalf("gz=%v: read %v and %v", gz, train, test)
		}
		if !bytes.Equal(train.Pixels, pixels) {
			t.Errorf("gz=%v: training pixels differ from those written", gz)
		}
		for i, l := range labels {
			if train.Labels[i] != int32(l) {
				t.Fatalf("gz=%v: label %d = %d, want %d", gz, i, train.Labels[i], l)
			}
		}
		if !slices.Equal(train.Classes, FashionMNISTClasses()) || train.Classes[0] != "T-shirt/top" || train.Classes[9] != "Ankle boot" {
			t.Errorf("classes = %v", train.Classes)
		}
		if train.Name != "fashion-mnist/train" || test.Name != "fashion-mnist/test" {
			t.Errorf("names %q, %q", train.Name, test.Name)
		}
	}
	dir := t.TempDir()
	writeFashion(t, dir, 2, 2, true)
	missing := filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")
	if err := os.Remove(missing); err != nil {
		t.Fatal(err)
	}
	_, _, err := FashionMNIST(dir)
	wantErr(t, err, "t10k-labels-idx1-ubyte", dir)

	// A corrupt file is reported by its path.
	bad := writeFile(t, missing, []byte("garbage!"))
	_, _, err = FashionMNIST(dir)
	wantErr(t, err, bad, "bad magic")
}

// TestDebianFashionMNIST reads the real data set that `make test` installs (Debian package
// dataset-fashion-mnist). It fails rather than skips when the package is missing, so that a broken test
// environment is noticed.
func TestDebianFashionMNIST(t *testing.T) {
	const dir = "/usr/share/datasets/fashion-mnist"
	for _, base := range fashionFiles {
		if findFile(dir, base) == "" {
			t.Fatalf("Fashion-MNIST not installed: %s lacks %s[.gz]; install it with `apt-get install dataset-fashion-mnist`", dir, base)
		}
	}
	train, test, err := FashionMNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		set *Set
		n   int
	}{{train, 60000}, {test, 10000}} {
		s := tc.set
		if s.N != tc.n || s.H != 28 || s.W != 28 || s.C != 1 || len(s.Classes) != 10 {
			t.Errorf("%v, want %d images of 28×28×1 in 10 classes", s, tc.n)
		}
		if err := s.Validate(); err != nil { // Labels in range.
			t.Error(err)
		}
		for c, n := range s.ClassCounts() {
			if n != tc.n/10 { // Fashion-MNIST is exactly balanced.
				t.Errorf("%s: class %d has %d images, want %d", s.Name, c, n, tc.n/10)
			}
		}
	}
}
