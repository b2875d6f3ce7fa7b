// Package datasets knows where the course's datasets live and fetches them, verified, for machines that
// do not have Debian's packages (a cluster's login node): `gonbgpu data fetch fashion-mnist|cifar10`.
//
// Every file is downloaded to a temporary file beside its destination, checked against a pinned SHA-256,
// and only then renamed into place: an interrupted or corrupted download leaves nothing a later run
// would trust. Files already present are verified, never overwritten.
package datasets

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gonbgpu/gonbgpu/internal/fsutil"
)

// DirEnv names the environment variable that moves the datasets folder (to /scratch, say).
const DirEnv = "GONBGPU_DATA"

// DebianFashionMNISTDir is where Debian's package dataset-fashion-mnist puts the four .gz files.
const DebianFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// Dir is the folder `gonbgpu data fetch` writes into and the first place readers look: $GONBGPU_DATA,
// else datasets/ in gonbgpu's cache folder (~/.cache/gonbgpu/datasets, see fsutil.CacheDir). Each
// dataset has its own sub-folder, named as the dataset.
func Dir() string {
	if d := os.Getenv(DirEnv); d != "" {
		return d
	}
	return filepath.Join(fsutil.CacheDir(), "datasets")
}

// File is one file of a dataset as it is stored on disk once fetched.
type File struct {
	Name string // base name inside the dataset's folder

	// SHA256 is the digest of the file as stored (hex).
	SHA256 string

	// ContentSHA256, for a gzipped file, is the digest of its decompressed content, and ContentSize its
	// size. Mirrors re-compress (Debian's copies lack the original name in the gzip header, so their
	// bytes differ from the canonical ones), so a file whose stored digest is not SHA256 is still
	// accepted when its content is the pinned content.
	ContentSHA256 string
	ContentSize   int64

	// MaxSize bounds the stored file: a server sending more is cut off and refused.
	MaxSize int64
}

// Spec describes one dataset: where its canonical files are, and what they must hash to.
type Spec struct {
	Name string // "fashion-mnist", "cifar10"
	URL  string // canonical base URL; each download is URL + "/" + remote name

	// Files are fetched one by one (Archive empty), or extracted from Archive.
	Files []File

	// Archive, when set, is a .tar.gz downloaded once and verified as a whole (ArchiveSHA256,
	// ArchiveMaxSize), then unpacked: each entry in Files is looked for under ArchivePrefix, and nothing
	// else is extracted.
	Archive        string
	ArchiveSHA256  string
	ArchiveMaxSize int64
	ArchivePrefix  string
}

// Specs are the datasets `gonbgpu data fetch` knows, by name.
var Specs = map[string]*Spec{
	"fashion-mnist": {
		Name: "fashion-mnist",
		// The official mirror named in Fashion-MNIST's README (github.com/zalandoresearch/fashion-mnist).
		URL: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
		// SHA256: the canonical .gz files, as TensorFlow Datasets publishes them
		// (tensorflow_datasets/url_checksums/fashion_mnist.txt; their MD5s are the README's).
		// ContentSHA256: the decompressed IDX files, computed from Debian's dataset-fashion-mnist, whose
		// .gz files are the canonical ones less the original file name in the gzip header (each is
		// exactly that many bytes shorter).
		Files: []File{
			{Name: "train-images-idx3-ubyte.gz", SHA256: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
				ContentSHA256: "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", ContentSize: 47040016, MaxSize: 32 << 20},
			{Name: "train-labels-idx1-ubyte.gz", SHA256: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
				ContentSHA256: "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", ContentSize: 60008, MaxSize: 1 << 20},
			{Name: "t10k-images-idx3-ubyte.gz", SHA256: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
				ContentSHA256: "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", ContentSize: 7840016, MaxSize: 8 << 20},
			{Name: "t10k-labels-idx1-ubyte.gz", SHA256: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
				ContentSHA256: "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", ContentSize: 10008, MaxSize: 1 << 20},
		},
	},
	"cifar10": {
		Name: "cifar10",
		URL:  "https://www.cs.toronto.edu/~kriz",
		// The binary version's tarball: 170052171 bytes, SHA-256 as TensorFlow Datasets publishes it
		// (tensorflow_datasets/url_checksums/cifar10.txt; torchvision lists its MD5,
		// c32a1d4ab5d03f1284b67883e8d87530). Its entries are checked by name, type and size (each batch
		// is 10000 records of 3073 bytes); their digests are covered by the tarball's.
		Archive:        "cifar-10-binary.tar.gz",
		ArchiveSHA256:  "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
		ArchiveMaxSize: 200 << 20,
		ArchivePrefix:  "cifar-10-batches-bin/",
		Files: []File{
			{Name: "data_batch_1.bin", ContentSize: 30730000},
			{Name: "data_batch_2.bin", ContentSize: 30730000},
			{Name: "data_batch_3.bin", ContentSize: 30730000},
			{Name: "data_batch_4.bin", ContentSize: 30730000},
			{Name: "data_batch_5.bin", ContentSize: 30730000},
			{Name: "test_batch.bin", ContentSize: 30730000},
			{Name: "batches.meta.txt", MaxSize: 4 << 10},
		},
	},
}

// Names lists the known datasets, sorted.
func Names() []string {
	names := make([]string, 0, len(Specs))
	for n := range Specs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func lookup(name string) (*Spec, error) {
	s, ok := Specs[name]
	if !ok {
		return nil, fmt.Errorf("unknown dataset %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return s, nil
}

// missing lists the files of s that dir lacks as regular files (it does not hash them: fetch
// verified them before they got their names).
func (s *Spec) missing(dir string) []string {
	var missing []string
	for _, f := range s.Files {
		if fi, err := os.Stat(filepath.Join(dir, f.Name)); err != nil || !fi.Mode().IsRegular() {
			missing = append(missing, f.Name)
		}
	}
	return missing
}

// Locate finds the folder holding the dataset, and says in how where it came from. An explicit folder
// (the --data flag) wins and must hold the files; otherwise Dir()/name (what `gonbgpu data fetch`
// wrote), then, for Fashion-MNIST, Debian's folder. The error says how to get the data.
func Locate(name, explicit string) (dir, how string, err error) {
	s, err := lookup(name)
	if err != nil {
		return "", "", err
	}
	if explicit != "" {
		if m := s.missing(explicit); len(m) > 0 && !(name == "cifar10" && len(s.missing(filepath.Join(explicit, "cifar-10-batches-bin"))) == 0) {
			return "", "", fmt.Errorf("%s: --data %s lacks %s", name, explicit, strings.Join(m, ", "))
		}
		return explicit, "from --data " + explicit, nil
	}
	fetched := filepath.Join(Dir(), name)
	if len(s.missing(fetched)) == 0 {
		return fetched, "from " + fetched, nil
	}
	if name == "fashion-mnist" && len(s.missing(DebianFashionMNISTDir)) == 0 {
		return DebianFashionMNISTDir, "from Debian's dataset-fashion-mnist at " + DebianFashionMNISTDir, nil
	}
	where := fetched
	if name == "fashion-mnist" {
		where += " nor in " + DebianFashionMNISTDir
	}
	return "", "", fmt.Errorf("%s is neither in %s: fetch it once on a machine with internet access "+
		"(`gonbgpu data fetch %s`; %s=DIR puts it elsewhere, e.g. on /scratch) or pass --data DIR", name, where, name, DirEnv)
}
