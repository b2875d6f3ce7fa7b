package catalog

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// debianFiles reads Debian's dataset-fashion-mnist, the real files the loopback mirror serves.
func debianFiles(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	for _, f := range builtin["fashion-mnist"].Files {
		data, err := os.ReadFile(filepath.Join(DebianFashionMNISTDir, f.Name))
		if err != nil {
			t.Fatalf("%v: the fetch tests serve Debian's copy of Fashion-MNIST (apt-get install dataset-fashion-mnist; `make test` does)", err)
		}
		files[f.Name] = data
	}
	return files
}

// mirror serves files on 127.0.0.1 only and counts the requests.
func mirror(t *testing.T, files map[string][]byte) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		data, ok := files[strings.TrimPrefix(r.URL.Path, "/mirror/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(data)
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL + "/mirror", &hits
}

// leftovers lists temporary or partial files under dir.
func leftovers(t *testing.T, dir string) []string {
	var left []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), ".") && p != dir {
			left = append(left, p)
		}
		return nil
	})
	return left
}

func gz(t *testing.T, data []byte) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

func gunzip(t *testing.T, data []byte) []byte {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(zr); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestFetchFashionMNIST fetches Debian's real files from a loopback mirror: they verify (their content is
// the pinned one), land under Dir/fashion-mnist byte for byte, and a second fetch downloads nothing.
func TestFetchFashionMNIST(t *testing.T) {
	files := debianFiles(t)
	url, hits := mirror(t, files)
	dir := t.TempDir()
	var log bytes.Buffer
	got, err := Fetch(context.Background(), "fashion-mnist", Options{Dir: dir, Mirror: url, Progress: &log})
	if err != nil {
		t.Fatalf("fetch: %v\n%s", err, log.String())
	}
	if got != filepath.Join(dir, "fashion-mnist") {
		t.Errorf("fetched into %s", got)
	}
	for name, want := range files {
		data, err := os.ReadFile(filepath.Join(got, name))
		if err != nil || !bytes.Equal(data, want) {
			t.Errorf("%s: not the served file (%v)", name, err)
		}
		fi, _ := os.Stat(filepath.Join(got, name))
		if fi != nil && fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v, want 0644", name, fi.Mode())
		}
	}
	if n := hits.Load(); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
	if l := leftovers(t, dir); len(l) > 0 {
		t.Errorf("temporary files left: %v", l)
	}
	if !strings.Contains(log.String(), "verified") {
		t.Errorf("no progress report:\n%s", log.String())
	}
	// Again: everything is there and verified; nothing is downloaded.
	if _, err := Fetch(context.Background(), "fashion-mnist", Options{Dir: dir, Mirror: url}); err != nil {
		t.Fatal(err)
	}
	if n := hits.Load(); n != 4 {
		t.Errorf("a second fetch made %d more requests", n-4)
	}
	// And readers find it there first.
	if d, how, err := Locate("fashion-mnist", "", Options{Dir: dir}); err != nil || d != got || !strings.Contains(how, got) {
		t.Errorf("Locate: %q %q %v, want %s", d, how, err, got)
	}
}

// TestFetchRefusesCorruptCopies: a flipped byte, a well-formed gzip of altered data, an oversized
// answer and an error status each end in one error naming the file (with both digests for mismatches),
// and leave neither the file nor a temporary one.
func TestFetchRefusesCorruptCopies(t *testing.T) {
	files := debianFiles(t)
	const victim = "train-labels-idx1-ubyte.gz"
	flipped := bytes.Clone(files[victim])
	flipped[len(flipped)/2] ^= 0x40
	labels := gunzip(t, files[victim])
	labels[100] = (labels[100] + 1) % 10
	regz := gz(t, labels)
	pinned := builtin["fashion-mnist"].Files[1]
	if pinned.Name != victim {
		t.Fatal("Specs changed order")
	}
	cases := map[string]struct {
		data []byte
		want []string
	}{
		"flipped byte":  {flipped, []string{victim, pinned.SHA256, "SHA-256 mismatch"}},
		"altered data":  {regz, []string{victim, pinned.ContentSHA256, hexSHA(labels), "SHA-256 mismatch"}},
		"oversized":     {make([]byte, pinned.MaxSize+10), []string{victim, "more than"}},
		"missing (404)": {nil, []string{victim, "404"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			served := map[string][]byte{}
			for k, v := range files {
				served[k] = v
			}
			if c.data == nil {
				delete(served, victim)
			} else {
				served[victim] = c.data
			}
			url, _ := mirror(t, served)
			dir := t.TempDir()
			_, err := Fetch(context.Background(), "fashion-mnist", Options{Dir: dir, Mirror: url})
			if err == nil {
				t.Fatal("a corrupted copy was accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Count(err.Error(), "\n") > 0 {
				t.Errorf("error is not one line: %q", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "fashion-mnist", victim)); !os.IsNotExist(err) {
				t.Errorf("the refused file was kept (%v)", err)
			}
			if l := leftovers(t, dir); len(l) > 0 {
				t.Errorf("temporary files left: %v", l)
			}
		})
	}
}

// TestFetchKeepsForeignFiles: a file already in the folder that does not verify is reported, never
// replaced.
func TestFetchKeepsForeignFiles(t *testing.T) {
	files := debianFiles(t)
	url, _ := mirror(t, files)
	dir := t.TempDir()
	mine := filepath.Join(dir, "fashion-mnist", "t10k-labels-idx1-ubyte.gz")
	os.MkdirAll(filepath.Dir(mine), 0o755)
	os.WriteFile(mine, []byte("my notes"), 0o644)
	_, err := Fetch(context.Background(), "fashion-mnist", Options{Dir: dir, Mirror: url})
	var mm *MismatchError
	if !errors.As(err, &mm) && (err == nil || !strings.Contains(err.Error(), mine)) {
		t.Fatalf("want a refusal naming %s, got %v", mine, err)
	}
	if data, _ := os.ReadFile(mine); string(data) != "my notes" {
		t.Fatal("a file that was there was overwritten")
	}
}

func hexSHA(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

type entry struct {
	name string
	typ  byte
	data []byte
	link string
}

func tarball(t *testing.T, entries []entry) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.data)), Linkname: e.link}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write(e.data)
		}
	}
	tw.Close()
	zw.Close()
	return b.Bytes()
}

// TestFetchArchiveSafely runs the CIFAR-10 path on small stand-in tarballs (the spec's sizes and digest
// replaced, the code path unchanged): a good one unpacks to exactly the expected files; hostile ones
// (path traversal, links, devices, wrong sizes, missing members) are refused with nothing left behind.
func TestFetchArchiveSafely(t *testing.T) {
	real := builtin["cifar10"]
	var specs map[string]*Spec // real's, with cifar10 replaced by spec
	batch := bytes.Repeat([]byte{7}, 3073*2)
	good := []entry{{"cifar-10-batches-bin/", tar.TypeDir, nil, ""}}
	for _, f := range real.Files {
		data := batch
		if f.Name == "batches.meta.txt" {
			data = []byte("airplane\nautomobile\n")
		}
		good = append(good, entry{"cifar-10-batches-bin/" + f.Name, tar.TypeReg, data, ""})
	}
	good = append(good, entry{"cifar-10-batches-bin/readme.html", tar.TypeReg, []byte("<html>"), ""})
	spec := func(archive []byte) {
		s := *real
		s.Files = nil
		for _, f := range real.Files {
			if f.ContentSize > 0 {
				f.ContentSize = int64(len(batch))
			}
			s.Files = append(s.Files, f)
		}
		s.ArchiveSHA256 = hexSHA(archive)
		specs = Builtin()
		specs["cifar10"] = &s
	}

	t.Run("good", func(t *testing.T) {
		archive := tarball(t, good)
		spec(archive)
		url, _ := mirror(t, map[string][]byte{real.Archive: archive})
		dir := t.TempDir()
		got, err := Fetch(context.Background(), "cifar10", Options{Dir: dir, Mirror: url, Specs: specs})
		if err != nil {
			t.Fatal(err)
		}
		entries, _ := os.ReadDir(got)
		if len(entries) != len(real.Files) {
			t.Errorf("%d entries in %s, want the %d expected files", len(entries), got, len(real.Files))
		}
		for _, f := range real.Files {
			if fi, err := os.Lstat(filepath.Join(got, f.Name)); err != nil || !fi.Mode().IsRegular() {
				t.Errorf("%s: %v", f.Name, err)
			}
		}
		if d, _, err := Locate("cifar10", "", Options{Dir: dir, Specs: specs}); err != nil || d != got {
			t.Errorf("Locate: %q %v", d, err)
		}
	})

	outside := t.TempDir()
	bad := map[string][]entry{
		"path traversal": append(bytes2(good), entry{"cifar-10-batches-bin/../../" + filepath.Base(outside) + "/evil", tar.TypeReg, []byte("x"), ""}),
		"absolute path":  append(bytes2(good), entry{"/tmp/evil", tar.TypeReg, []byte("x"), ""}),
		"symlink member": replace(good, "cifar-10-batches-bin/test_batch.bin", entry{"cifar-10-batches-bin/test_batch.bin", tar.TypeSymlink, nil, "/etc/passwd"}),
		"symlink extra":  append(bytes2(good), entry{"cifar-10-batches-bin/x", tar.TypeSymlink, nil, "/etc"}),
		"device":         append(bytes2(good), entry{"cifar-10-batches-bin/dev", tar.TypeChar, nil, ""}),
		"wrong size":     replace(good, "cifar-10-batches-bin/data_batch_3.bin", entry{"cifar-10-batches-bin/data_batch_3.bin", tar.TypeReg, batch[:100], ""}),
		"huge meta":      replace(good, "cifar-10-batches-bin/batches.meta.txt", entry{"cifar-10-batches-bin/batches.meta.txt", tar.TypeReg, make([]byte, 5<<10), ""}),
		"missing member": replace(good, "cifar-10-batches-bin/data_batch_5.bin", entry{}),
		"repeated":       append(bytes2(good), good[1]),
	}
	for name, entries := range bad {
		t.Run(name, func(t *testing.T) {
			archive := tarball(t, entries)
			spec(archive)
			url, _ := mirror(t, map[string][]byte{real.Archive: archive})
			dir := t.TempDir()
			_, err := Fetch(context.Background(), "cifar10", Options{Dir: dir, Mirror: url, Specs: specs})
			if err == nil {
				t.Fatal("a hostile archive was accepted")
			}
			left, _ := os.ReadDir(filepath.Join(dir, "cifar10"))
			if len(left) > 0 {
				t.Errorf("left %d entries after refusing: %v", len(left), left)
			}
			if o, _ := os.ReadDir(outside); len(o) > 0 {
				t.Errorf("wrote outside the folder")
			}
		})
	}

	t.Run("archive digest mismatch", func(t *testing.T) {
		archive := tarball(t, good)
		spec(archive)
		tampered := tarball(t, replace(good, "cifar-10-batches-bin/batches.meta.txt", entry{"cifar-10-batches-bin/batches.meta.txt", tar.TypeReg, []byte("cat\n"), ""}))
		url, _ := mirror(t, map[string][]byte{real.Archive: tampered})
		dir := t.TempDir()
		_, err := Fetch(context.Background(), "cifar10", Options{Dir: dir, Mirror: url, Specs: specs})
		if err == nil || !strings.Contains(err.Error(), real.Archive) || !strings.Contains(err.Error(), hexSHA(archive)) || !strings.Contains(err.Error(), hexSHA(tampered)) {
			t.Fatalf("want a mismatch naming the archive and both digests, got %v", err)
		}
		if left, _ := os.ReadDir(filepath.Join(dir, "cifar10")); len(left) > 0 {
			t.Errorf("left %v", left)
		}
	})
}

func bytes2(e []entry) []entry { return append([]entry(nil), e...) }

// replace returns entries with the one named name replaced by e (dropped if e is empty).
func replace(entries []entry, name string, e entry) []entry {
	var out []entry
	for _, x := range entries {
		if x.name == name {
			if e.name != "" {
				out = append(out, e)
			}
			continue
		}
		out = append(out, x)
	}
	return out
}

// TestLocateOrder: --data wins; then the fetched folder; then Debian's; the error says how to get it.
func TestLocateOrder(t *testing.T) {
	empty := t.TempDir()
	o := Options{Dir: empty, DirOrigin: "$" + DirEnv}
	if _, err := os.Stat(filepath.Join(DebianFashionMNISTDir, "train-images-idx3-ubyte.gz")); err == nil {
		if d, _, err := Locate("fashion-mnist", "", o); err != nil || d != DebianFashionMNISTDir {
			t.Errorf("with nothing fetched: %q %v, want Debian's folder", d, err)
		}
	}
	if _, _, err := Locate("cifar10", "", o); err == nil || !strings.Contains(err.Error(), "gonbgpu data fetch cifar10") || !strings.Contains(err.Error(), DirEnv) {
		t.Errorf("want an error saying how to fetch, got %v", err)
	}
	if _, _, err := Locate("fashion-mnist", empty, o); err == nil || !strings.Contains(err.Error(), "data folder "+empty) {
		t.Errorf("an explicit folder without the files: %v", err)
	}
	if _, _, err := Locate("imagenet", "", o); err == nil || !strings.Contains(err.Error(), "unknown dataset") {
		t.Errorf("unknown dataset: %v", err)
	}
}

// TestLocateTakesWhatReadersTake: an explicit folder may hold Fashion-MNIST unpacked, and CIFAR-10
// without batches.meta.txt (the readers fall back to the standard names) or as the archive's own
// folder; a file is not a folder.
func TestLocateTakesWhatReadersTake(t *testing.T) {
	o := Options{Dir: t.TempDir(), DirOrigin: "$" + DirEnv}
	fashion := t.TempDir()
	for _, f := range builtin["fashion-mnist"].Files {
		os.WriteFile(filepath.Join(fashion, strings.TrimSuffix(f.Name, ".gz")), []byte("x"), 0o644)
	}
	if d, how, err := Locate("fashion-mnist", fashion, o); err != nil || d != fashion || how != "from "+fashion {
		t.Errorf("unpacked Fashion-MNIST: %q %q %v", d, how, err)
	}
	cifar := t.TempDir()
	batches := filepath.Join(cifar, "cifar-10-batches-bin")
	os.MkdirAll(batches, 0o755)
	for _, f := range builtin["cifar10"].Files {
		if !f.Optional {
			os.WriteFile(filepath.Join(batches, f.Name), []byte("x"), 0o644)
		}
	}
	for _, dir := range []string{cifar, batches} {
		if d, _, err := Locate("cifar10", dir, o); err != nil || d != dir {
			t.Errorf("CIFAR-10 in %s: %q %v", dir, d, err)
		}
	}
	os.Remove(filepath.Join(batches, "test_batch.bin"))
	if _, _, err := Locate("cifar10", cifar, o); err == nil || !strings.Contains(err.Error(), "data folder "+cifar+": "+batches+" lacks test_batch.bin") {
		t.Errorf("CIFAR-10 without its test batch: %v", err)
	}
	file := filepath.Join(batches, "data_batch_1.bin")
	if _, _, err := Locate("cifar10", file, o); err == nil || !strings.Contains(err.Error(), file+" is not a folder") {
		t.Errorf("a file as --data: %v", err)
	}
	// Fetched into $GONBGPU_DATA, it is found there, and how says so.
	fetched := filepath.Join(o.Dir, "cifar10")
	os.Rename(cifar, filepath.Join(o.Dir, "x"))
	os.Rename(filepath.Join(o.Dir, "x", "cifar-10-batches-bin"), fetched)
	os.WriteFile(filepath.Join(fetched, "test_batch.bin"), []byte("x"), 0o644)
	if d, how, err := Find(context.Background(), "cifar10", "", o); err != nil || d != fetched || how != "from "+fetched+" in $GONBGPU_DATA" {
		t.Errorf("fetched CIFAR-10: %q %q %v", d, how, err)
	}
}

// TestFindFetchesOnlyOnUse: Find downloads only a FetchOnUse dataset, and never for an explicit folder.
func TestFindFetchesOnlyOnUse(t *testing.T) {
	url, hits := mirror(t, map[string][]byte{})
	specs := Builtin()
	specs["cifar10"].URL = url
	o := Options{Dir: t.TempDir(), Specs: specs}
	if _, _, err := Find(context.Background(), "cifar10", "", o); err == nil || !strings.Contains(err.Error(), "gonbgpu data fetch cifar10") {
		t.Errorf("cifar10 nowhere: %v", err)
	}
	empty := t.TempDir()
	if _, _, err := Find(context.Background(), "fashion-mnist", empty, o); err == nil || !strings.Contains(err.Error(), "data folder "+empty) {
		t.Errorf("an explicit empty folder: %v", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d requests", n)
	}
}

// TestOptionsComeFromTheCaller: the datasets folder is $GONBGPU_DATA only through FromEnvironment, and
// Builtin hands out copies: a caller changing one (a test pointing a dataset at its server) changes
// nothing for the next.
func TestOptionsComeFromTheCaller(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(DirEnv, dir)
	if o := FromEnvironment(); o.Dir != dir || o.DirOrigin != "$"+DirEnv || o.Progress != os.Stderr {
		t.Errorf("FromEnvironment with $%s=%s: %+v", DirEnv, dir, o)
	}
	if d := (Options{}).withDefaults().Dir; d == dir || d != DefaultDir() {
		t.Errorf("Options{} reads the environment: datasets folder %s", d)
	}
	t.Setenv(DirEnv, "")
	if o := FromEnvironment(); o.Dir != "" {
		t.Errorf("FromEnvironment without $%s: %+v", DirEnv, o)
	}
	mine := Builtin()
	mine["cifar10"].URL = "http://127.0.0.1:1"
	mine["fashion-mnist"].Files[0].SHA256 = "0"
	delete(mine, "cifar10")
	again := Builtin()
	if again["cifar10"] == nil || again["cifar10"].URL == "http://127.0.0.1:1" || again["fashion-mnist"].Files[0].SHA256 == "0" {
		t.Errorf("a change to one Builtin() reached the next")
	}
	if got := strings.Join(Names(), ","); got != "cifar10,fashion-mnist" {
		t.Errorf("Names() = %s", got)
	}
}
