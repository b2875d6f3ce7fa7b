package data

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// The fuzz targets check that hostile input yields errors, never panics or unbounded allocation. Their
// seed corpora live in testdata/fuzz/<FuzzName>/ and run with every `go test`; explore further with e.g.
//
//	go test -run='^$' -fuzz=FuzzIDX -fuzztime=20s ./vision/data
//
// FuzzCIFAR's interesting inputs are whole 3073-byte records, which the fuzzer spends up to a minute
// minimising each; add -fuzzminimizetime=2s to keep it fuzzing.

// FuzzIDX decodes arbitrary bytes as an IDX file, with and without knowing the size.
func FuzzIDX(f *testing.F) {
	// Cap the data a header may claim, so that gzip bombs in the corpus cannot make one run slow. The
	// fuzz function runs sequentially within each worker process.
	old := MaxIDXBytes
	MaxIDXBytes = 16 << 20
	f.Cleanup(func() { MaxIDXBytes = old })
	f.Fuzz(func(t *testing.T, data []byte) {
		known, errKnown := DecodeIDX(bytes.NewReader(data), "fuzz.idx", int64(len(data)))
		unknown, errUnknown := DecodeIDX(bytes.NewReader(data), "fuzz.idx", -1)
		// Knowing the size only makes some errors earlier; it never changes what is valid.
		if (errKnown == nil) != (errUnknown == nil) {
			t.Fatalf("known size: %v; unknown size: %v", errKnown, errUnknown)
		}
		for _, err := range []error{errKnown, errUnknown} {
			if err != nil && !strings.HasPrefix(err.Error(), "fuzz.idx") {
				t.Fatalf("error %q does not start with the file name", err)
			}
		}
		if errKnown != nil {
			return
		}
		if !slices.Equal(known.Dims, unknown.Dims) || !bytes.Equal(known.Data, unknown.Data) {
			t.Fatal("known and unknown size decode differently")
		}
		size, ok := mulNoOverflow(known.Dims...)
		if !ok || size != len(known.Data) {
			t.Fatalf("dims %v but %d bytes of data", known.Dims, len(known.Data))
		}
		// A decoded file makes a set when paired with matching labels, or fails cleanly.
		if len(known.Dims) >= 3 {
			labels := &IDX{Dims: known.Dims[:1], Data: make([]byte, known.Dims[0])}
			if set, err := setFromIDX("fuzz", known, labels, "images", "labels", []string{"x"}); err == nil {
				if set.Validate() != nil {
					t.Fatal("setFromIDX returned an invalid set")
				}
			}
		}
	})
}

// FuzzCIFAR decodes arbitrary bytes as a CIFAR-10 binary batch (cut to whole records, so the record
// decoder gets exercised, not only the size check) and as batches.meta.txt.
func FuzzCIFAR(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := checkCIFARSize("fuzz.bin", int64(len(data))); (err == nil) != (len(data) == cifarBatchRecords*cifarRecord) {
			t.Fatalf("checkCIFARSize(%d bytes) = %v", len(data), err)
		}
		records := data[:len(data)/cifarRecord*cifarRecord]
		n := len(records) / cifarRecord
		pixels, labels := make([]uint8, n*cifarPixels), make([]int32, n)
		err := decodeCIFAR(records, "fuzz.bin", 10, pixels, labels)
		badLabel := -1
		for r := range n {
			if records[r*cifarRecord] > 9 {
				badLabel = r
				break
			}
		}
		switch {
		case badLabel >= 0 && (err == nil || !strings.Contains(err.Error(), "fuzz.bin")):
			t.Fatalf("record %d has label %d but error is %v", badLabel, records[badLabel*cifarRecord], err)
		case badLabel < 0 && err != nil:
			t.Fatalf("valid records gave %v", err)
		case err == nil && n > 0:
			// Spot-check the CHW → HWC conversion on the last pixel of the last image.
			last := records[(n-1)*cifarRecord:]
			got := pixels[len(pixels)-3:]
			want := []byte{last[1024], last[2048], last[3072]}
			if !bytes.Equal(got, want) {
				t.Fatalf("last pixel %v, want %v", got, want)
			}
		}
		if classes, err := parseCIFARMeta(data, "fuzz.txt"); err == nil && len(classes) != 10 {
			t.Fatalf("parseCIFARMeta returned %d classes without error", len(classes))
		}
	})
}

// FuzzFolderImage decodes and resizes one image file's bytes, as Folder does for each file.
func FuzzFolderImage(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, w, h uint8, grey, stretch bool) {
		width, height, channels := 1+int(w%48), 1+int(h%48), 3
		if grey {
			channels = 1
		}
		dst := make([]uint8, width*height*channels)
		// 1<<20 pixels: decoding allocates at most 8 MiB, whatever the header claims.
		_, err := decodeImage(data, dst, width, height, channels, stretch, 1<<20)
		if err != nil && strings.HasPrefix(err.Error(), "decoder panic") {
			t.Fatal(err) // Recovered, so Folder would survive; but a panic in a decoder is worth knowing about.
		}
		isImage := bytes.HasPrefix(data, pngMagic) || bytes.HasPrefix(data, jpegMagic)
		if !isImage && err != errNotImage {
			t.Fatalf("non-image content gave %v, want errNotImage", err)
		}
	})
}
