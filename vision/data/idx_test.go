package data

import (
	"bytes"
	"compress/gzip"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/gonbgpu/gonbgpu/gpu/platform/memlimit"
)

func TestReadIDXRoundTrip(t *testing.T) {
	dir := t.TempDir()
	data := testPixels(5, 4, 3, 1)
	raw := idxBytes([]uint32{5, 4, 3}, data)
	// Compression is detected by content: a gzipped file without ".gz" and a plain file named ".gz"
	// must both read correctly.
	for name, content := range map[string][]byte{
		"plain":           raw,
		"plain.gz":        raw,
		"gzipped":         gzipBytes(t, raw),
		"gzipped.gz":      gzipBytes(t, raw),
		"concatenated.gz": append(gzipBytes(t, raw[:10]), gzipBytes(t, raw[10:])...),
	} {
		path := writeFile(t, filepath.Join(dir, name), content)
		idx, err := ReadIDX(path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !slices.Equal(idx.Dims, []int{5, 4, 3}) || !bytes.Equal(idx.Data, data) {
			t.Fatalf("%s: read dims %v and %d bytes, want [5 4 3] and the %d bytes written", name, idx.Dims, len(idx.Data), len(data))
		}
	}
}

func TestReadIDXErrors(t *testing.T) {
	dir := t.TempDir()
	good := idxBytes([]uint32{3, 2, 2}, testPixels(3, 2, 2, 1))
	corruptGzip := gzipBytes(t, good)
	corruptGzip[len(corruptGzip)-6] ^= 0xff // Inside the CRC-32 trailer.
	for _, tc := range []struct {
		name    string
		content []byte
		want    []string
	}{
		{"empty", nil, []string{"too short for an IDX header"}},
		{"badmagic", append([]byte{1, 2}, good[2:]...), []string{"bad magic 0x01020803"}},
		{"float", append([]byte{0, 0, 0x0D}, good[3:]...), []string{"wrong dtype 0x0d (float32)"}},
		{"unknowntype", append([]byte{0, 0, 0x42}, good[3:]...), []string{"unknown dtype 0x42"}},
		{"rank0", []byte{0, 0, 8, 0}, []string{"rank 0"}},
		{"shortheader", good[:9], []string{"truncated header"}},
		{"truncated", good[:len(good)-5], []string{"truncated at image 1 of 3"}},
		{"truncated.gz", gzipBytes(t, good[:len(good)-5]), []string{"truncated at image 1 of 3", "premature end of file"}},
		{"trailing", append(slices.Clone(good), 1, 2), []string{"2 unexpected bytes after the last image"}},
		{"trailing.gz", gzipBytes(t, append(slices.Clone(good), 1)), []string{"unexpected data after the last image"}},
		{"crc.gz", corruptGzip, []string{"checksum"}},
		{"badgzip.gz", []byte{0x1f, 0x8b, 0, 0}, []string{"corrupt gzip header"}},
	} {
		path := writeFile(t, filepath.Join(dir, tc.name), tc.content)
		_, err := ReadIDX(path)
		wantErr(t, err, append([]string{path}, tc.want...)...)
	}
	_, err := ReadIDX(filepath.Join(dir, "missing"))
	wantErr(t, err, filepath.Join(dir, "missing"))
}

// allocatedBy returns the bytes allocated while running f.
func allocatedBy(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReadIDXHostileHeaders checks that headers announcing huge data fail without allocating for it.
func TestReadIDXHostileHeaders(t *testing.T) {
	dir := t.TempDir()
	const limit = 8 << 20 // Far below any of the claims.
	for _, tc := range []struct {
		name    string
		content []byte
		want    string
	}{
		// Over MaxIDXBytes: rejected from the header alone.
		{"2^31images", idxBytes([]uint32{1 << 31, 28, 28}, make([]byte, 100)), "more than MaxIDXBytes"},
		{"2^31x2^31", idxBytes([]uint32{1 << 31, 1 << 31}, make([]byte, 100)), "more than MaxIDXBytes"},
		{"2^31images.gz", gzipBytes(t, idxBytes([]uint32{1 << 31, 28, 28}, make([]byte, 100))), "more than MaxIDXBytes"},
		{"max8dims", idxBytes([]uint32{1 << 31, 1 << 31, 1 << 31, 1 << 31, 1 << 31, 1 << 31, 1 << 31, 1 << 31}, nil), "more than MaxIDXBytes"},
		// Under MaxIDXBytes (1.5 GiB): a plain file is checked against its size; gzip data must run out
		// long before the buffer grows large.
		{"1GiB", idxBytes([]uint32{2_000_000, 28, 28}, make([]byte, 100)), "truncated at image 0 of 2000000"},
		// More than deflate can expand the compressed size to: refused before decompressing.
		{"1GiB.gz", gzipBytes(t, idxBytes([]uint32{2_000_000, 28, 28}, make([]byte, 3<<19))), "bytes of gzip can hold (deflate expands at most 1032 times)"},
		// Within that bound, the data runs out before the buffer grows large.
		{"1.5MiB.gz", gzipBytes(t, idxBytes([]uint32{2000, 28, 28}, randomBytes(128*28*28))), "truncated at image 128 of 2000"},
	} {
		path := writeFile(t, filepath.Join(dir, tc.name), tc.content)
		var err error
		allocated := allocatedBy(func() { _, err = ReadIDX(path) })
		wantErr(t, err, path, tc.want)
		if allocated > limit {
			t.Errorf("%s: allocated %d MiB before failing, want < %d MiB", tc.name, allocated>>20, limit>>20)
		}
	}
}

// TestLoadIDXComparesHeadersFirst: an images file whose header agrees with its own (gzipped) data but
// not with the labels file is refused from the two headers, before its data is decompressed (the issue's
// 2 MB gzip that took 9 GB: here 150 MB of zeros, which the old code read whole before comparing counts).
func TestLoadIDXComparesHeadersFirst(t *testing.T) {
	dir := t.TempDir()
	const n = 200_000
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(idxBytes([]uint32{n, 28, 28}, nil))
	zeros := make([]byte, 1<<20)
	for left := n * 28 * 28; left > 0; left -= len(zeros) {
		zw.Write(zeros[:min(left, len(zeros))])
	}
	zw.Close()
	images := writeFile(t, filepath.Join(dir, "images.gz"), buf.Bytes())
	labels := writeFile(t, filepath.Join(dir, "labels"), idxBytes([]uint32{10}, make([]byte, 10)))
	var err error
	allocated := allocatedBy(func() { _, err = LoadIDX("x", images, labels, []string{"a", "b"}) })
	wantErr(t, err, "count mismatch", images, "200000 images", labels, "10 labels")
	if allocated > 8<<20 {
		t.Errorf("allocated %d MiB before refusing, want < 8 MiB", allocated>>20)
	}
}

// TestIDXMemoryBudget: a header whose data would not fit in the memory this process may use is refused
// from the header, with the figures, even when the file really holds that much.
func TestIDXMemoryBudget(t *testing.T) {
	old := memlimit.Available
	defer func() { memlimit.Available = old }()
	memlimit.Available = func() memlimit.Budget { return memlimit.Budget{Bytes: 1 << 20, Source: "test budget"} }
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "images"), idxBytes([]uint32{3000, 28, 28}, testPixels(3000, 28, 28, 1)))
	_, err := ReadIDX(path)
	wantErr(t, err, path, "header 3000×28×28 needs at least 2.2 MiB of memory", "1.0 MiB (test budget)")
	small := writeFile(t, filepath.Join(dir, "small"), idxBytes([]uint32{1330, 28, 28}, testPixels(1330, 28, 28, 1)))
	labels := writeFile(t, filepath.Join(dir, "labels"), idxBytes([]uint32{1330}, make([]byte, 1330)))
	if _, err := ReadIDX(small); err != nil {
		t.Fatal(err)
	}
	_, err = LoadIDX("x", small, labels, []string{"a"})
	wantErr(t, err, small, labels, "needs at least 1.0 MiB of memory") // each file fits, not both
}

// randomBytes returns n bytes that gzip cannot compress.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestLoadIDX(t *testing.T) {
	dir := t.TempDir()
	classes := []string{"a", "b", "c"}
	images := writeFile(t, filepath.Join(dir, "images"), idxBytes([]uint32{4, 2, 3}, testPixels(4, 2, 3, 1)))
	images4 := writeFile(t, filepath.Join(dir, "images4"), gzipBytes(t, idxBytes([]uint32{4, 2, 3, 3}, testPixels(4, 2, 3, 3))))
	labels := writeFile(t, filepath.Join(dir, "labels"), idxBytes([]uint32{4}, []byte{0, 2, 1, 2}))
	set, err := LoadIDX("x", images, labels, classes)
	if err != nil {
		t.Fatal(err)
	}
	if set.N != 4 || set.H != 2 || set.W != 3 || set.C != 1 || !slices.Equal(set.Labels, []int32{0, 2, 1, 2}) ||
		!bytes.Equal(set.Pixels, testPixels(4, 2, 3, 1)) || !slices.Equal(set.Classes, classes) {
		t.Fatalf("LoadIDX read %+v", set)
	}
	if set, err = LoadIDX("x", images4, labels, classes); err != nil || set.C != 3 || !bytes.Equal(set.Pixels, testPixels(4, 2, 3, 3)) {
		t.Fatalf("LoadIDX with 4 dimensions: %v, %+v", err, set)
	}

	fewLabels := writeFile(t, filepath.Join(dir, "fewlabels"), idxBytes([]uint32{3}, []byte{0, 1, 2}))
	_, err = LoadIDX("x", images, fewLabels, classes)
	wantErr(t, err, "count mismatch", images, "4 images", fewLabels, "3 labels")

	badLabel := writeFile(t, filepath.Join(dir, "badlabel"), idxBytes([]uint32{4}, []byte{0, 1, 3, 0}))
	_, err = LoadIDX("x", images, badLabel, classes)
	wantErr(t, err, badLabel, "label 3 of record 2 is out of range [0,3)")

	_, err = LoadIDX("x", labels, labels, classes)
	wantErr(t, err, labels, "want 3 (N×H×W) or 4 (N×H×W×C)")
	_, err = LoadIDX("x", images, images, classes)
	wantErr(t, err, images, "want 1 for labels")
	_, err = LoadIDX("x", images, filepath.Join(dir, "nolabels"), classes)
	wantErr(t, err, filepath.Join(dir, "nolabels"))
	if _, err := os.Stat(images); err != nil {
		t.Fatal(err)
	}
}

// TestReadIDXSpecialFile: a named pipe or a device in place of an IDX file is refused at once (the old
// code hung opening the pipe, or read /dev/zero until MaxIDXBytes).
func TestReadIDXSpecialFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "train-images-idx3-ubyte")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("cannot make a named pipe here: %v", err)
	}
	zero := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	done := make(chan [2]error, 1)
	go func() {
		_, err1 := ReadIDX(fifo)
		_, err2 := ReadIDX(zero)
		done <- [2]error{err1, err2}
	}()
	select {
	case errs := <-done:
		wantErr(t, errs[0], fifo, "named pipe", "not a regular file")
		wantErr(t, errs[1], zero, "character device", "not a regular file")
	case <-time.After(hangGuard):
		t.Fatal("ReadIDX hangs on a named pipe")
	}
}
