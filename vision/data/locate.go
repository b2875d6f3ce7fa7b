package data

import (
	"context"
	"fmt"

	"github.com/gonbgpu/gonbgpu/vision/data/catalog"
)

// Locate finds the folder holding dataset name, one the catalog knows ("fashion-mnist", "cifar10"),
// for its reader, and says in how where it came from: [catalog.Find], the one way gonbgpu locates a
// dataset, with the datasets folder of the user's environment ($GONBGPU_DATA, else gonbgpu's cache) and
// download progress on standard error. dataDir, if not empty, is a folder the user named, which must hold
// the files; else the datasets folder, else the Debian package's folder, else, for Fashion-MNIST only, a
// download into the datasets folder, verified against the SHA-256 digests pinned in the catalog. Errors
// name the folders and how to get the data. It is a cell's helper: libraries call [LocateWith].
func Locate(name, dataDir string) (dir, how string, err error) {
	return LocateWith(name, dataDir, catalog.FromEnvironment())
}

// LocateWith is [Locate] with the catalog's options given (where the datasets folder is, where download
// progress goes).
func LocateWith(name, dataDir string, o catalog.Options) (dir, how string, err error) {
	return catalog.Find(context.Background(), name, dataDir, o)
}

// LocateFashionMNIST is [Locate] for Fashion-MNIST: the folder to pass to [FashionMNIST].
func LocateFashionMNIST(dataDir string) (dir, how string, err error) {
	return Locate("fashion-mnist", dataDir)
}

// Load locates ([LocateWith]) and reads one of the datasets the catalog knows: its training and test
// sets, and where they came from.
func Load(name, dataDir string, o catalog.Options) (train, test *Set, how string, err error) {
	read := map[string]func(string) (*Set, *Set, error){"fashion-mnist": FashionMNIST, "cifar10": CIFAR10}[name]
	if read == nil {
		return nil, nil, "", fmt.Errorf("data.Load: no reader for dataset %q (known: fashion-mnist, cifar10)", name)
	}
	dir, how, err := LocateWith(name, dataDir, o)
	if err != nil {
		return nil, nil, "", err
	}
	train, test, err = read(dir)
	return train, test, how, err
}
