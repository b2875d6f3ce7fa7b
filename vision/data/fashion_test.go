package data

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"github.com/gonbgpu/gonbgpu/datasets"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
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

// fashionServer serves a small gzipped Fashion-MNIST on 127.0.0.1 and points the package at it, with
// checksums of the files it serves; corrupt names files served with altered content.
func fashionServer(t *testing.T, corrupt ...string) (requests *atomic.Int32) {
	t.Helper()
	src := t.TempDir()
	writeFashion(t, src, 5, 2, true)
	files := map[string][]byte{}
	sums := map[string]string{}
	for _, base := range fashionFiles {
		data, err := os.ReadFile(filepath.Join(src, base+".gz"))
		if err != nil {
			t.Fatal(err)
		}
		sum := md5.Sum(data)
		sums[base+".gz"] = hex.EncodeToString(sum[:])
		if slices.Contains(corrupt, base+".gz") {
			data = append(slices.Clone(data), 0)
		}
		files["/mirror/"+base+".gz"] = data
	}
	requests = new(atomic.Int32)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		data, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	}))
	t.Cleanup(server.Close)
	if !strings.HasPrefix(server.URL, "http://127.0.0.1:") {
		t.Fatalf("test server at %s, want 127.0.0.1", server.URL)
	}

	oldURL, oldSums, oldDebian, oldLog := FashionMNISTURL, FashionMNISTMD5, DebianFashionMNISTDir, DownloadLog
	t.Cleanup(func() {
		FashionMNISTURL, FashionMNISTMD5, DebianFashionMNISTDir, DownloadLog = oldURL, oldSums, oldDebian, oldLog
	})
	FashionMNISTURL = server.URL + "/mirror/"
	FashionMNISTMD5 = sums
	DebianFashionMNISTDir = filepath.Join(t.TempDir(), "not-installed")
	DownloadLog = io.Discard
	t.Setenv("GONBGPU_CACHE_DIR", filepath.Join(t.TempDir(), "cache"))
	return requests
}

func TestLocateFashionMNISTDataDir(t *testing.T) {
	fashionServer(t)
	dir := t.TempDir()
	writeFashion(t, dir, 2, 2, false)
	got, how, err := LocateFashionMNIST(dir)
	if err != nil || got != dir || !strings.Contains(how, dir) {
		t.Fatalf("LocateFashionMNIST(%s) = %q, %q, %v", dir, got, how, err)
	}
	// An explicit directory lacking files is an error naming it, not a fallback to another copy.
	empty := t.TempDir()
	_, _, err = LocateFashionMNIST(empty)
	wantErr(t, err, empty, "train-images-idx3-ubyte[.gz]")
}

func TestLocateFashionMNISTDebian(t *testing.T) {
	requests := fashionServer(t)
	DebianFashionMNISTDir = t.TempDir()
	writeFashion(t, DebianFashionMNISTDir, 2, 2, true)
	got, how, err := LocateFashionMNIST("")
	if err != nil || got != DebianFashionMNISTDir || !strings.Contains(how, "Debian") {
		t.Fatalf("LocateFashionMNIST() = %q, %q, %v", got, how, err)
	}
	if requests.Load() != 0 {
		t.Errorf("%d download requests despite the Debian copy", requests.Load())
	}
}

// TestLocateFashionMNISTFetched: what `gonbgpu data fetch` wrote into $GONBGPU_DATA wins over Debian's copy.
func TestLocateFashionMNISTFetched(t *testing.T) {
	requests := fashionServer(t)
	DebianFashionMNISTDir = t.TempDir()
	writeFashion(t, DebianFashionMNISTDir, 2, 2, true)
	data := t.TempDir()
	t.Setenv(datasets.DirEnv, data)
	fetched := filepath.Join(data, "fashion-mnist")
	writeFashion(t, fetched, 3, 2, true)
	got, how, err := LocateFashionMNIST("")
	if err != nil || got != fetched || !strings.Contains(how, "data fetch") {
		t.Fatalf("LocateFashionMNIST() = %q, %q, %v; want %s", got, how, err, fetched)
	}
	if requests.Load() != 0 {
		t.Errorf("%d download requests despite the fetched copy", requests.Load())
	}
}

func TestLocateFashionMNISTDownload(t *testing.T) {
	requests := fashionServer(t)
	dir, how, err := LocateFashionMNIST("")
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(os.Getenv("GONBGPU_CACHE_DIR"), "datasets", "fashion-mnist")
	if dir != want || how != "downloaded to "+want {
		t.Fatalf("LocateFashionMNIST() = %q, %q; want %q, downloaded", dir, how, want)
	}
	if requests.Load() != 4 {
		t.Errorf("%d requests, want 4", requests.Load())
	}
	train, test, err := FashionMNIST(dir)
	if err != nil || train.N != 5 || test.N != 2 {
		t.Fatalf("reading the download: %v, %v, %v", train, test, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("cache holds %d entries, want the 4 files (no temporary files)", len(entries))
	}
	// A second run uses the cache.
	if _, how, err = LocateFashionMNIST(""); err != nil || !strings.Contains(how, "cache") || requests.Load() != 4 {
		t.Errorf("second LocateFashionMNIST: %q, %v, %d requests", how, err, requests.Load())
	}
}

func TestDownloadChecksumMismatch(t *testing.T) {
	fashionServer(t, "train-labels-idx1-ubyte.gz")
	_, _, err := LocateFashionMNIST("")
	wantErr(t, err, "checksum mismatch", "train-labels-idx1-ubyte.gz", "nothing was saved")
	cache := filepath.Join(os.Getenv("GONBGPU_CACHE_DIR"), "datasets", "fashion-mnist")
	entries, _ := os.ReadDir(cache)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// The file before it in the list was verified and kept; the corrupt one and its temporary file are gone.
	if !slices.Equal(names, []string{"train-images-idx3-ubyte.gz"}) {
		t.Errorf("cache holds %v after the mismatch, want only the verified train-images-idx3-ubyte.gz", names)
	}
}

func TestDownloadErrors(t *testing.T) {
	fashionServer(t)
	FashionMNISTURL += "wrong/"
	_, _, err := LocateFashionMNIST("")
	wantErr(t, err, "404", "wrong/train-images-idx3-ubyte.gz", "dataset-fashion-mnist")

	fashionServer(t)
	sums := maps.Clone(FashionMNISTMD5)
	delete(sums, "t10k-images-idx3-ubyte.gz")
	FashionMNISTMD5 = sums
	err = DownloadFashionMNIST(t.TempDir())
	wantErr(t, err, "no checksum known for t10k-images-idx3-ubyte.gz")
}

// TestDebianFashionMNIST reads the real data set that `make test` installs (Debian package
// dataset-fashion-mnist). It fails rather than skips when the package is missing, so that a broken test
// environment is noticed.
func TestDebianFashionMNIST(t *testing.T) {
	const dir = "/usr/share/datasets/fashion-mnist"
	if missing := missingFashionFiles(dir); len(missing) > 0 {
		t.Fatalf("Fashion-MNIST not installed: %s lacks %v; install it with `apt-get install dataset-fashion-mnist`", dir, missing)
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
