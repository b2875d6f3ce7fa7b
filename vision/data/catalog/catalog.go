// Package catalog knows the course's datasets: where each lives (a folder given, the datasets folder,
// Debian's package) and how to fetch it, verified, for machines that do not have Debian's packages (a
// cluster's login node): `gonbgpu data fetch fashion-mnist|cifar10`. Package vision/data reads what it
// finds.
//
// Where the datasets folder is comes in as a value ([Options]); [FromEnvironment] reads $GONBGPU_DATA
// for the programs and cell helpers that take the user's environment.
//
// Every file is downloaded to a temporary file beside its destination, checked against a pinned SHA-256,
// and only then renamed into place: an interrupted or corrupted download leaves nothing a later run
// would trust. Files already present are verified, never overwritten.
package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
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

// Options say where the datasets folder is, which datasets there are, and how downloads go.
type Options struct {
	// Dir is the datasets folder: `gonbgpu data fetch` writes into it, and it is the first place readers
	// look. Each dataset has its own sub-folder, named as the dataset. Default: datasets/ in gonbgpu's
	// cache folder (~/.cache/gonbgpu/datasets, see fsutil.CacheDir).
	Dir string

	// DirOrigin names Dir in messages ("$GONBGPU_DATA"); default "the datasets folder", or "gonbgpu's
	// datasets cache" for the default Dir.
	DirOrigin string

	// Specs are the datasets known, by name; nil: [Builtin]().
	Specs map[string]*Spec

	// Mirror replaces the canonical base URL (a site's own copy); files keep their names.
	Mirror string

	// Progress receives a progress bar per download and one line per file; nil: silent.
	Progress io.Writer

	// Client makes the requests; default one with connection and header timeouts (a stalled server
	// ends in an error, not a hang).
	Client *http.Client
}

// FromEnvironment is the Options of a program run by a user: the datasets folder is $GONBGPU_DATA when
// it is set, and download progress goes to standard error (a cell's output in a notebook). Programs and
// cells call it once; the rest of gonbgpu takes Options.
func FromEnvironment() Options {
	o := Options{Progress: os.Stderr}
	if d := os.Getenv(DirEnv); d != "" {
		o.Dir, o.DirOrigin = d, "$"+DirEnv
	}
	return o
}

// withDefaults fills what o leaves empty.
func (o Options) withDefaults() Options {
	if o.Dir == "" {
		o.Dir, o.DirOrigin = filepath.Join(fsutil.CacheDir(), "datasets"), "gonbgpu's datasets cache"
	}
	if o.DirOrigin == "" {
		o.DirOrigin = "the datasets folder"
	}
	if o.Specs == nil {
		o.Specs = Builtin()
	}
	if o.Client == nil {
		o.Client = defaultClient
	}
	return o
}

// DefaultDir is the datasets folder when none is given: datasets/ in gonbgpu's cache folder.
func DefaultDir() string { return Options{}.withDefaults().Dir }

// Folder is the datasets folder o names: o.Dir, or [DefaultDir] when o leaves it empty. A notebook keeps
// its own files beside the datasets there (chapter 5's resnet18.onnx): catalog.FromEnvironment().Folder().
func (o Options) Folder() string { return o.withDefaults().Dir }

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

	// Optional files are fetched like the others, but a folder without them still holds the dataset
	// for [Locate]: the reader does without (CIFAR-10's batches.meta.txt, whose class names are the
	// standard ten).
	Optional bool
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

	// Debian is the folder a Debian package installs the dataset into, DebianPackage its name; [Locate]
	// looks there after Options.Dir/Name. Empty: no such package.
	Debian, DebianPackage string

	// FetchOnUse marks a dataset small enough (Fashion-MNIST: 30 MB) that [Find] downloads it when it
	// is nowhere yet; the others (CIFAR-10: 170 MB) are fetched only when asked to.
	FetchOnUse bool
}

// Builtin returns the datasets gonbgpu knows, by name: a new copy at each call, which a caller (a test
// pointing a dataset at its own server) may change.
func Builtin() map[string]*Spec {
	out := map[string]*Spec{}
	for name, s := range builtin {
		c := *s
		c.Files = slices.Clone(s.Files)
		out[name] = &c
	}
	return out
}

// builtin are the datasets `gonbgpu data fetch` knows; never changed (Builtin hands out copies).
var builtin = map[string]*Spec{
	"fashion-mnist": {
		Name: "fashion-mnist",
		// The official mirror named in Fashion-MNIST's README (github.com/zalandoresearch/fashion-mnist).
		URL:           "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com",
		Debian:        DebianFashionMNISTDir,
		DebianPackage: "dataset-fashion-mnist",
		FetchOnUse:    true,
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
			{Name: "batches.meta.txt", MaxSize: 4 << 10, Optional: true},
		},
	},
}

// Names lists the datasets gonbgpu knows, sorted.
func Names() []string { return names(builtin) }

func names(specs map[string]*Spec) []string {
	names := make([]string, 0, len(specs))
	for n := range specs {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func lookup(name string, o Options) (*Spec, error) {
	s, ok := o.Specs[name]
	if !ok {
		return nil, fmt.Errorf("unknown dataset %q (known: %s)", name, strings.Join(names(o.Specs), ", "))
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

// lacks lists the files of s that dir does not hold in a form the readers take: a gzipped file may
// also be there unpacked (its name less ".gz", listed as "NAME[.gz]"), and an Optional one may be absent.
// Like missing, it does not hash them.
func (s *Spec) lacks(dir string) []string {
	var lacks []string
	for _, f := range s.Files {
		if f.Optional {
			continue
		}
		names, label := []string{f.Name}, f.Name
		if plain, ok := strings.CutSuffix(f.Name, ".gz"); ok {
			names, label = append(names, plain), plain+"[.gz]"
		}
		if !slices.ContainsFunc(names, func(n string) bool { return isRegular(filepath.Join(dir, n)) }) {
			lacks = append(lacks, label)
		}
	}
	return lacks
}

func isRegular(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// Locate finds the folder holding the dataset, for its reader, and says in how where it came from (a
// phrase for the user: "from …"). It never downloads ([Find] does). In order:
//
//  1. explicit, if not empty (a folder the user named: `gonbgpu train --data`, recipe's Options.Data): it
//     must hold the files (or, for an archive's dataset, hold the archive's folder that does), otherwise
//     the error names it and what it lacks. An explicit choice is never silently replaced by another copy.
//  2. o.Dir/name: what `gonbgpu data fetch` (or an earlier [Find]) wrote, in $GONBGPU_DATA or the cache.
//  3. The Debian package's folder (Spec.Debian), when it is installed.
//
// The error when it is nowhere says where it looked and how to get it.
func Locate(name, explicit string, o Options) (dir, how string, err error) {
	o = o.withDefaults()
	s, err := lookup(name, o)
	if err != nil {
		return "", "", err
	}
	if explicit != "" {
		fi, err := os.Stat(explicit)
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", "", fmt.Errorf("%s: data folder %s: %w", name, explicit, err)
		}
		if !fi.IsDir() {
			return "", "", fmt.Errorf("%s: data folder %s is not a folder", name, explicit)
		}
		m := s.lacks(explicit)
		if len(m) == 0 {
			return explicit, "from " + explicit, nil
		}
		// The unpacked archive's own folder (cifar-10-batches-bin), which the reader looks into.
		if sub := strings.TrimSuffix(s.ArchivePrefix, "/"); sub != "" {
			if fi, err := os.Stat(filepath.Join(explicit, sub)); err == nil && fi.IsDir() {
				if m := s.lacks(filepath.Join(explicit, sub)); len(m) > 0 {
					return "", "", fmt.Errorf("%s: data folder %s: %s lacks %s", name, explicit, filepath.Join(explicit, sub), strings.Join(m, ", "))
				}
				return explicit, "from " + explicit, nil
			}
		}
		return "", "", fmt.Errorf("%s: data folder %s lacks %s", name, explicit, strings.Join(m, ", "))
	}
	fetched := filepath.Join(o.Dir, name)
	if len(s.lacks(fetched)) == 0 {
		return fetched, "from " + fetched + " in " + o.DirOrigin, nil
	}
	if s.Debian != "" && len(s.lacks(s.Debian)) == 0 {
		return s.Debian, "from Debian's " + s.DebianPackage + " at " + s.Debian, nil
	}
	return "", "", s.notFound(fetched, nil)
}

// notFound is the error for a dataset found neither in fetched nor in Debian's folder, saying where it
// looked, why a download failed (fetchErr, if one was tried), and every way to get it.
func (s *Spec) notFound(fetched string, fetchErr error) error {
	where := s.nowhere(fetched)
	ways := fmt.Sprintf("fetch it once on a machine with internet access (`gonbgpu data fetch %s`; %s=DIR puts it "+
		"elsewhere, e.g. on /scratch)", s.Name, DirEnv)
	if s.Debian != "" {
		ways += ", install Debian's package " + s.DebianPackage + ","
	}
	ways += " or give the folder that holds it (Options.Data DIR)"
	if fetchErr != nil {
		return fmt.Errorf("%s is %s, and downloading it failed (%w): %s", s.Name, where, fetchErr, ways)
	}
	return fmt.Errorf("%s is %s: %s", s.Name, where, ways)
}

// nowhere says where Locate looked in vain: "not in FETCHED", or "neither in FETCHED nor in DEBIAN".
func (s *Spec) nowhere(fetched string) string {
	if s.Debian != "" {
		return "neither in " + fetched + " nor in " + s.Debian
	}
	return "not in " + fetched
}

// Find is [Locate], and for a dataset marked FetchOnUse that is nowhere yet (and no explicit folder was
// named), a [Fetch] into o.Dir: the same verified, atomic download as `gonbgpu data fetch`, so the next
// Locate finds it there. o.Progress, if not nil, is told about the download; how then says "downloaded".
func Find(ctx context.Context, name, explicit string, o Options) (dir, how string, err error) {
	o = o.withDefaults()
	dir, how, err = Locate(name, explicit, o)
	s := o.Specs[name]
	if err == nil || explicit != "" || s == nil || !s.FetchOnUse {
		return dir, how, err
	}
	fetched := filepath.Join(o.Dir, name)
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, "%s is %s: downloading it into %s (as `gonbgpu data fetch %s` does)\n",
			name, s.nowhere(fetched), fetched, name)
	}
	dir, err = Fetch(ctx, name, o)
	if err != nil {
		return "", "", s.notFound(fetched, err)
	}
	return dir, "downloaded to " + dir + " and verified", nil
}
