package data

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gonbgpu/gonbgpu/datasets"
	"github.com/gonbgpu/gonbgpu/internal/fsutil"
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

var (
	// DebianFashionMNISTDir is where Debian's package dataset-fashion-mnist installs the data set (the
	// four .gz files). The course's machines install it, so nothing needs downloading there.
	DebianFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

	// FashionMNISTURL is the base URL downloads are fetched from (the official mirror named in the data
	// set's README); each file is FashionMNISTURL + name. Variable so that tests, or a site with a local
	// mirror, can point it elsewhere.
	FashionMNISTURL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

	// FashionMNISTMD5 holds the MD5 checksum of each downloadable file, as published in the data set's
	// README. A download is kept only if it matches: the official mirror is plain HTTP, so this is what
	// guards against corrupted or tampered files. (MD5 is what upstream publishes; it detects accidents
	// reliably, though not a determined attacker.)
	FashionMNISTMD5 = map[string]string{
		"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
		"train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
		"t10k-images-idx3-ubyte.gz":  "bef4ecab320f06d8554ea6380940ec79",
		"t10k-labels-idx1-ubyte.gz":  "bb300cfdad3c16e7a12a480ee83cd310",
	}

	// DownloadLog receives one line per file downloaded, so that a student waiting on a first run sees
	// why. Set it to io.Discard to silence it.
	DownloadLog io.Writer = os.Stderr

	// MaxDownloadBytes bounds the size of one downloaded file (the largest Fashion-MNIST file is 26 MB),
	// so a misbehaving server cannot fill the disk.
	MaxDownloadBytes int64 = 256 << 20

	// httpClient is used for downloads; its timeout turns a stalled connection into an error instead
	// of a training job that hangs forever.
	httpClient = &http.Client{Timeout: 10 * time.Minute}
)

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

// missingFashionFiles lists the Fashion-MNIST files dir lacks (in neither plain nor gzipped form).
func missingFashionFiles(dir string) []string {
	var missing []string
	for _, base := range fashionFiles {
		if findFile(dir, base) == "" {
			missing = append(missing, base+"[.gz]")
		}
	}
	return missing
}

// LocateFashionMNIST finds a directory holding Fashion-MNIST, for [FashionMNIST], and says in how — a
// sentence for the user — where it came from. In order:
//
//  1. dataDir, if not empty (the --data flag): it must hold the files, otherwise the error names it and
//     what is missing. An explicit choice is never silently replaced by another copy.
//  2. [DebianFashionMNISTDir], when the Debian package dataset-fashion-mnist is installed.
//  3. The download cache, $GONBGPU_CACHE_DIR/datasets/fashion-mnist (default cache dir: the user's,
//     e.g. ~/.cache/gonbgpu), downloading the missing files from [FashionMNISTURL] first. Downloads are
//     verified against [FashionMNISTMD5] and written atomically, so an interrupted or corrupt download
//     never leaves a file that a later run would trust.
func LocateFashionMNIST(dataDir string) (dir, how string, err error) {
	if dataDir != "" {
		if missing := missingFashionFiles(dataDir); len(missing) > 0 {
			return "", "", fmt.Errorf("fashion-mnist: data dir %s lacks %s", dataDir, strings.Join(missing, ", "))
		}
		return dataDir, "from --data " + dataDir, nil
	}
	// What `gonbgpu data fetch` wrote ($GONBGPU_DATA, e.g. on /scratch) comes first: the user put it there.
	if fetched := filepath.Join(datasets.Dir(), "fashion-mnist"); len(missingFashionFiles(fetched)) == 0 {
		return fetched, "from " + fetched + " (gonbgpu data fetch)", nil
	}
	if len(missingFashionFiles(DebianFashionMNISTDir)) == 0 {
		return DebianFashionMNISTDir, "from Debian's dataset-fashion-mnist at " + DebianFashionMNISTDir, nil
	}
	cache := filepath.Join(CacheDir(), "datasets", "fashion-mnist")
	if len(missingFashionFiles(cache)) == 0 {
		return cache, "from the download cache at " + cache, nil
	}
	if err := DownloadFashionMNIST(cache); err != nil {
		return "", "", fmt.Errorf("%w\n(fashion-mnist was not found in %s either: install Debian's package "+
			"dataset-fashion-mnist, or pass a directory holding the four files)", err, DebianFashionMNISTDir)
	}
	return cache, "downloaded to " + cache, nil
}

// CacheDir is where gonbgpu keeps machine-local files: $GONBGPU_CACHE_DIR, else gonbgpu under the
// user's cache directory (~/.cache/gonbgpu).
func CacheDir() string { return fsutil.CacheDir() }

// DownloadFashionMNIST downloads into dir the gzipped Fashion-MNIST files it does not already hold,
// from [FashionMNISTURL], each verified against [FashionMNISTMD5].
func DownloadFashionMNIST(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("fashion-mnist: creating cache dir: %w", err)
	}
	for _, base := range fashionFiles {
		if findFile(dir, base) != "" {
			continue
		}
		name := base + ".gz"
		want, ok := FashionMNISTMD5[name]
		if !ok {
			return fmt.Errorf("fashion-mnist: no checksum known for %s: refusing to download it unverified", name)
		}
		u, err := url.JoinPath(FashionMNISTURL, name)
		if err != nil {
			return fmt.Errorf("fashion-mnist: bad FashionMNISTURL %q: %w", FashionMNISTURL, err)
		}
		if DownloadLog != nil {
			fmt.Fprintf(DownloadLog, "fashion-mnist: downloading %s to %s\n", u, dir)
		}
		if err := downloadVerified(u, filepath.Join(dir, name), want); err != nil {
			return fmt.Errorf("fashion-mnist: %w", err)
		}
	}
	return nil
}

// downloadVerified fetches rawURL into path if its MD5 is wantMD5 (hex). The data goes to a hidden
// temporary file in the same directory, renamed to path only once complete and verified: a crash, an
// interrupted connection or a bad checksum leaves nothing under path (the temporary file is removed).
func downloadVerified(rawURL, path, wantMD5 string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.part")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	resp, err := httpClient.Get(rawURL)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", rawURL, resp.Status)
	}
	hash := md5.New()
	n, err := io.Copy(io.MultiWriter(tmp, hash), io.LimitReader(resp.Body, MaxDownloadBytes+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", rawURL, err)
	}
	if n > MaxDownloadBytes {
		return fmt.Errorf("GET %s: more than MaxDownloadBytes (%d bytes)", rawURL, MaxDownloadBytes)
	}
	if got := hex.EncodeToString(hash.Sum(nil)); !strings.EqualFold(got, wantMD5) {
		return fmt.Errorf("checksum mismatch for %s: got MD5 %s, want %s (%d bytes received); nothing was saved",
			rawURL, got, wantMD5, n)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil { // CreateTemp makes it private (0600).
		return err
	}
	return os.Rename(tmp.Name(), path)
}
