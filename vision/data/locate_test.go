package data

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gonbgpu/gonbgpu/vision/data/catalog"
)

func sha256Hex(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// fashionServer serves a small gzipped Fashion-MNIST on 127.0.0.1 and returns the catalog options that
// point at it: their Specs["fashion-mnist"] is a copy of the real spec with this server's URL, the SHA-256
// digests of the small files (stored and decompressed, pinned as the real ones are), and a Debian folder
// that is not there. The files named in corrupt are served as a well-formed gzip of altered content, which
// only the digests can tell. The datasets folder (named "$GONBGPU_DATA" in messages) and
// $GONBGPU_CACHE_DIR are empty folders of their own. It returns the request counter and the options.
func fashionServer(t *testing.T, corrupt ...string) (requests *atomic.Int32, o *catalog.Options) {
	t.Helper()
	src := t.TempDir()
	writeFashion(t, src, 5, 2, true)
	specs := catalog.Builtin()
	real := specs["fashion-mnist"]
	spec := *real
	spec.Files = nil
	files := map[string][]byte{}
	for _, f := range real.Files {
		data, err := os.ReadFile(filepath.Join(src, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		f.SHA256 = sha256Hex(data)
		content, err := readAll(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		f.ContentSHA256, f.ContentSize = sha256Hex(content), int64(len(content))
		spec.Files = append(spec.Files, f)
		if slices.Contains(corrupt, f.Name) {
			altered := slices.Clone(content)
			altered[len(altered)-1] ^= 1 // one label changed
			data = gzipBytes(t, altered)
		}
		files["/mirror/"+f.Name] = data
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
	spec.URL = server.URL + "/mirror"
	spec.Debian = filepath.Join(t.TempDir(), "not-installed")
	specs["fashion-mnist"] = &spec
	t.Setenv("GONBGPU_CACHE_DIR", filepath.Join(t.TempDir(), "cache"))
	return requests, &catalog.Options{Dir: t.TempDir(), DirOrigin: "$" + catalog.DirEnv, Specs: specs, Progress: io.Discard}
}

// readAll decompresses a gzip stream.
func readAll(r io.Reader) ([]byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// tempFiles lists the hidden (temporary, partial) files in dir.
func tempFiles(dir string) []string {
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestLocateFashionMNISTDataDir(t *testing.T) {
	requests, o := fashionServer(t)
	dir := t.TempDir()
	writeFashion(t, dir, 2, 2, false) // unpacked files are taken as well as gzipped ones
	got, how, err := LocateWith("fashion-mnist", dir, *o)
	if err != nil || got != dir || how != "from "+dir {
		t.Fatalf("LocateFashionMNIST(%s) = %q, %q, %v", dir, got, how, err)
	}
	// An explicit directory lacking files is an error naming it, not a fallback to another copy.
	empty := t.TempDir()
	_, _, err = LocateWith("fashion-mnist", empty, *o)
	wantErr(t, err, "data folder "+empty, "train-images-idx3-ubyte[.gz]", "t10k-labels-idx1-ubyte[.gz]")
	_, _, err = LocateWith("fashion-mnist", filepath.Join(empty, "nothing"), *o)
	wantErr(t, err, filepath.Join(empty, "nothing"), "no such file or directory")
	if requests.Load() != 0 {
		t.Errorf("%d download requests despite --data", requests.Load())
	}
}

// TestLocateFashionMNISTDebian: with nothing fetched, Debian's copy is used and nothing is downloaded.
func TestLocateFashionMNISTDebian(t *testing.T) {
	requests, o := fashionServer(t)
	debian := t.TempDir()
	o.Specs["fashion-mnist"].Debian = debian
	writeFashion(t, debian, 2, 2, true)
	got, how, err := LocateWith("fashion-mnist", "", *o)
	if err != nil || got != debian || how != "from Debian's dataset-fashion-mnist at "+debian {
		t.Fatalf("LocateFashionMNIST() = %q, %q, %v", got, how, err)
	}
	if requests.Load() != 0 {
		t.Errorf("%d download requests despite the Debian copy", requests.Load())
	}
}

// TestLocateFashionMNISTFetched: what `gonbgpu data fetch` wrote into $GONBGPU_DATA wins over Debian's
// copy, and nothing is downloaded.
func TestLocateFashionMNISTFetched(t *testing.T) {
	requests, o := fashionServer(t)
	debian := t.TempDir()
	o.Specs["fashion-mnist"].Debian = debian
	writeFashion(t, debian, 2, 2, true)
	fetched := filepath.Join(o.Dir, "fashion-mnist")
	writeFashion(t, fetched, 3, 2, true)
	train, _, how, err := Load("fashion-mnist", "", *o)
	if err != nil || train.N != 3 || how != "from "+fetched+" in $GONBGPU_DATA" {
		t.Fatalf("Load() = %v, %q, %v; want the 3 images of %s", train, how, err, fetched)
	}
	if requests.Load() != 0 {
		t.Errorf("%d download requests despite the fetched copy", requests.Load())
	}
}

// TestLocateFashionMNISTDownload: found nowhere, Fashion-MNIST is downloaded into $GONBGPU_DATA (or
// the cache without it), verified, with no temporary file left; the next run finds it there.
func TestLocateFashionMNISTDownload(t *testing.T) {
	for _, env := range []bool{true, false} {
		requests, o := fashionServer(t)
		want := filepath.Join(o.Dir, "fashion-mnist")
		if !env {
			o.Dir, o.DirOrigin = "", ""
			want = filepath.Join(os.Getenv("GONBGPU_CACHE_DIR"), "datasets", "fashion-mnist")
		}
		var log bytes.Buffer
		o.Progress = &log
		train, test, how, err := Load("fashion-mnist", "", *o)
		if err != nil {
			t.Fatal(err)
		}
		if train.N != 5 || test.N != 2 || how != "downloaded to "+want+" and verified" {
			t.Fatalf("$%s set: %v; Load() = %v, %v, %q; want downloaded to %s", catalog.DirEnv, env, train, test, how, want)
		}
		if !strings.Contains(log.String(), "downloading it into "+want) {
			t.Errorf("the download log does not say why and where:\n%s", log.String())
		}
		if requests.Load() != 4 {
			t.Errorf("%d requests, want 4", requests.Load())
		}
		entries, _ := os.ReadDir(want)
		if len(entries) != 4 || len(tempFiles(want)) > 0 {
			t.Errorf("%s holds %d entries, want the 4 files (no temporary files)", want, len(entries))
		}
		// A second run finds it there.
		if dir, how, err := LocateWith("fashion-mnist", "", *o); err != nil || dir != want || !strings.HasPrefix(how, "from "+want) || requests.Load() != 4 {
			t.Errorf("second LocateFashionMNIST: %q, %q, %v, %d requests", dir, how, err, requests.Load())
		}
	}
}

// TestDownloadChecksumMismatch: a served file whose content is not the pinned one is refused by its
// SHA-256, in one line naming it, both digests and what to do; files verified before it are kept.
func TestDownloadChecksumMismatch(t *testing.T) {
	const victim = "train-labels-idx1-ubyte.gz"
	_, o := fashionServer(t, victim)
	want := o.Specs["fashion-mnist"].Files[1]
	if want.Name != victim {
		t.Fatal("Specs changed order")
	}
	_, _, err := LocateWith("fashion-mnist", "", *o)
	wantErr(t, err, victim, "SHA-256 mismatch", want.ContentSHA256, "nothing was kept", "gonbgpu data fetch fashion-mnist", "Options.Data DIR")
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	dir := filepath.Join(o.Dir, "fashion-mnist")
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// The file before it in the list was verified and kept; the corrupt one and its temporary file are gone.
	if !slices.Equal(names, []string{"train-images-idx3-ubyte.gz"}) {
		t.Errorf("%s holds %v after the mismatch, want only the verified train-images-idx3-ubyte.gz", dir, names)
	}
}

func TestDownloadErrors(t *testing.T) {
	_, o := fashionServer(t)
	o.Specs["fashion-mnist"].URL += "/wrong"
	_, _, err := LocateWith("fashion-mnist", "", *o)
	wantErr(t, err, "404", "wrong/train-images-idx3-ubyte.gz", "dataset-fashion-mnist", "gonbgpu data fetch fashion-mnist")

	// CIFAR-10 (170 MB) is never downloaded on use: the error says how to fetch it.
	requests, o := fashionServer(t)
	_, _, _, err = Load("cifar10", "", *o)
	wantErr(t, err, "cifar10 is not in "+filepath.Join(o.Dir, "cifar10"), "gonbgpu data fetch cifar10", "Options.Data DIR")
	if requests.Load() != 0 {
		t.Errorf("%d requests for cifar10", requests.Load())
	}
}

// TestLocateReadsTheEnvironment: the cell helpers (Locate, LocateFashionMNIST) take the datasets folder
// from $GONBGPU_DATA, which the kernelspec records: a copy fetched there is found before Debian's.
func TestLocateReadsTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(catalog.DirEnv, dir)
	fetched := filepath.Join(dir, "fashion-mnist")
	writeFashion(t, fetched, 3, 2, true)
	got, how, err := LocateFashionMNIST("")
	if err != nil || got != fetched || how != "from "+fetched+" in $"+catalog.DirEnv {
		t.Fatalf("LocateFashionMNIST() with $%s=%s: %q, %q, %v", catalog.DirEnv, dir, got, how, err)
	}
}
