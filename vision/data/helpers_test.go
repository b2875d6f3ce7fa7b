package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// hangGuard is how long a test waits for what should take milliseconds before it calls it a hang (the old
// code blocked for ever opening a named pipe): minutes, so that only a hang reaches it on a slow machine.
const hangGuard = 2 * time.Minute

// idxBytes encodes an IDX file of unsigned bytes with the given dimensions and data.
func idxBytes(dims []uint32, data []byte) []byte {
	var buf bytes.Buffer
	buf.Write([]byte{0, 0, 0x08, byte(len(dims))})
	for _, d := range dims {
		_ = binary.Write(&buf, binary.BigEndian, d)
	}
	buf.Write(data)
	return buf.Bytes()
}

func gzipBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t testing.TB, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// testPixels returns n images of h×w×c deterministic pixel values.
func testPixels(n, h, w, c int) []byte {
	p := make([]byte, n*h*w*c)
	for i := range p {
		p[i] = byte(i*7 + i/13)
	}
	return p
}

// writeFashion writes a small Fashion-MNIST-like data set (trainN and testN images of 4×3) into dir,
// gzipped or not, and returns the training pixels and labels written.
func writeFashion(t testing.TB, dir string, trainN, testN int, gz bool) (pixels []byte, labels []byte) {
	t.Helper()
	for _, part := range []struct {
		prefix string
		n      int
	}{{"train", trainN}, {"t10k", testN}} {
		px := testPixels(part.n, 4, 3, 1)
		lb := make([]byte, part.n)
		for i := range lb {
			lb[i] = byte((i * 3) % 10)
		}
		img := idxBytes([]uint32{uint32(part.n), 4, 3}, px)
		lab := idxBytes([]uint32{uint32(part.n)}, lb)
		suffix := ""
		if gz {
			img, lab, suffix = gzipBytes(t, img), gzipBytes(t, lab), ".gz"
		}
		writeFile(t, filepath.Join(dir, part.prefix+"-images-idx3-ubyte"+suffix), img)
		writeFile(t, filepath.Join(dir, part.prefix+"-labels-idx1-ubyte"+suffix), lab)
		if part.prefix == "train" {
			pixels, labels = px, lb
		}
	}
	return pixels, labels
}

// testImage returns an RGB image whose pixels encode their coordinates and a per-image tag.
func testImage(w, h int, tag uint8) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA(x, y, color.NRGBA{uint8(x * 255 / max(1, w-1)), uint8(y * 255 / max(1, h-1)), tag, 255})
		}
	}
	return img
}

func pngBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func jpegBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// wantErr fails unless err is non-nil and its message contains every fragment.
func wantErr(t testing.TB, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("error %q does not contain %q", err, f)
		}
	}
}

// newSet builds a valid set of n images of h×w×c with labels i%classes.
func newSet(n, h, w, c, classes int) *Set {
	s := &Set{Name: "test", N: n, H: h, W: w, C: c, Pixels: testPixels(n, h, w, c), Labels: make([]int32, n)}
	for i := range s.Labels {
		s.Labels[i] = int32(i % classes)
	}
	for i := range classes {
		s.Classes = append(s.Classes, string(rune('a'+i)))
	}
	return s
}
