package data

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/gonbgpu/gonbgpu/datasets"
)

// DownloadLog is told about a download (a line saying why, then a progress bar per file), so that a
// student waiting on a first run sees what is happening. Set it to io.Discard to silence it.
var DownloadLog io.Writer = os.Stderr

// Locate finds the folder holding dataset name, one package datasets knows ("fashion-mnist",
// "cifar10"), for its reader, and says in how where it came from. It is [datasets.Find], the one way
// gonbgpu locates a dataset: dataDir if not empty (the --data flag; it must hold the files), else
// $GONBGPU_DATA/name (or the cache, without $GONBGPU_DATA), else the Debian package's folder, else, for
// Fashion-MNIST only, a download into that first folder, verified against the SHA-256 digests pinned in
// package datasets ([DownloadLog] is told). Errors name the folders and how to get the data.
func Locate(name, dataDir string) (dir, how string, err error) {
	return datasets.Find(context.Background(), name, dataDir, DownloadLog)
}

// LocateFashionMNIST is [Locate] for Fashion-MNIST: the folder to pass to [FashionMNIST].
func LocateFashionMNIST(dataDir string) (dir, how string, err error) {
	return Locate("fashion-mnist", dataDir)
}

// Load locates ([Locate]) and reads one of the datasets package datasets knows: its training and test
// sets, and where they came from.
func Load(name, dataDir string) (train, test *Set, how string, err error) {
	read := map[string]func(string) (*Set, *Set, error){"fashion-mnist": FashionMNIST, "cifar10": CIFAR10}[name]
	if read == nil {
		return nil, nil, "", fmt.Errorf("data.Load: no reader for dataset %q (known: fashion-mnist, cifar10)", name)
	}
	dir, how, err := Locate(name, dataDir)
	if err != nil {
		return nil, nil, "", err
	}
	train, test, err = read(dir)
	return train, test, how, err
}
