package data

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// fashionClasses are Fashion-MNIST's class names, indexed by label (from the data set's README).
var fashionClasses = []string{
	"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

// FashionMNISTClasses returns the ten Fashion-MNIST class names, indexed by label.
func FashionMNISTClasses() []string { return slices.Clone(fashionClasses) }

// fashionFiles are the base names of the four Fashion-MNIST files; each may also be gzipped (".gz").
var fashionFiles = []string{
	"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
}

// FashionMNIST reads the Fashion-MNIST training (60000) and test (10000) sets from dir, which must
// hold train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte, each possibly gzipped (".gz"). Images are 28×28×1.
//
// The original MNIST digits come in the same files and load just as well; only the class names are
// then wrong (replace train.Classes and test.Classes).
func FashionMNIST(dir string) (train, test *Set, err error) {
	paths := make([]string, len(fashionFiles))
	for i, base := range fashionFiles {
		if paths[i] = findFile(dir, base); paths[i] == "" {
			return nil, nil, fmt.Errorf("fashion-mnist: neither %s nor %s.gz found in %s",
				base, base, dir)
		}
	}
	train, err = LoadIDX("fashion-mnist/train", paths[0], paths[1], fashionClasses)
	if err != nil {
		return nil, nil, err
	}
	test, err = LoadIDX("fashion-mnist/test", paths[2], paths[3], fashionClasses)
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// findFile returns dir/base, else dir/base.gz, whichever is a regular file; "" if neither is.
func findFile(dir, base string) string {
	for _, p := range []string{filepath.Join(dir, base), filepath.Join(dir, base+".gz")} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
