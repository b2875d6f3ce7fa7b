package data

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gonbgpu/gonbgpu/gpu/platform/memlimit"
)

// IDX is the content of an IDX file of unsigned bytes — the format of MNIST and Fashion-MNIST: a header
// with the dimensions, then the values in row-major order.
type IDX struct {
	// Dims are the dimensions, e.g. [60000 28 28] for images or [60000] for labels.
	Dims []int
	// Data holds the product of Dims bytes.
	Data []uint8
}

// MaxIDXBytes bounds the data size an IDX header may announce (2 GiB by default, forty times
// Fashion-MNIST's training images). A larger claim is rejected before reading anything else: it is far
// more likely a corrupt or hostile header than a real data set, and a real one this big should not be
// loaded into memory in one piece anyway.
var MaxIDXBytes int64 = 2 << 30

const (
	idxMaxDims = 8

	// Reading compressed data, whose final size the file cannot vouch for, starts with a buffer of at
	// most readChunk bytes and grows it by at most maxGrowth at a time as data actually arrives. A
	// header announcing gigabytes over a few bytes of gzip thus costs a few MiB before EOF exposes it.
	readChunk = 1 << 20
	maxGrowth = 64 << 20

	// maxDeflateRatio bounds deflate's expansion: at best a 258-byte match costs 2 bits (1032:1).
	maxDeflateRatio = 1032
)

// idxTypeNames names the IDX element types, for the error when a file holds something other than bytes.
var idxTypeNames = map[byte]string{
	0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "int16", 0x0C: "int32", 0x0D: "float32", 0x0E: "float64",
}

// ReadIDX reads an IDX file of unsigned bytes, gzip-compressed or not. Compression is detected from the
// content (gzip's magic bytes), not from the name, since renamed and half-decompressed copies of these
// files abound.
//
// The header is checked against MaxIDXBytes and, for an uncompressed file, against the file's size
// before anything is allocated; errors name the file and say what is wrong (bad magic, wrong type,
// truncated at which record, trailing data, corrupt compression).
func ReadIDX(path string) (*IDX, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return nil, err // Names the file.
	}
	defer f.Close()
	return DecodeIDX(f, path, fi.Size())
}

// DecodeIDX is ReadIDX for a reader: name labels errors, and size is the number of bytes r holds, or -1
// if unknown (then a bad header is only caught when the data runs out, as for compressed input).
func DecodeIDX(r io.Reader, name string, size int64) (*IDX, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: corrupt gzip header: %w", name, err)
		}
		defer zr.Close()
		// Deflate expands at most maxDeflateRatio times: a header promising more than the compressed
		// size could hold is refused before anything is decompressed.
		idx, err := decodeIDX(zr, -1, size)
		if err != nil {
			return nil, fmt.Errorf("%s (gzip): %w", name, err)
		}
		return idx, nil
	}
	idx, err := decodeIDX(br, size, -1)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return idx, nil
}

// idxHeader is what an IDX header declares.
type idxHeader struct {
	dims  []int
	raw   []byte // the dimensions as written, for messages (see formatDims)
	total int64  // bytes of data promised
}

func (h *idxHeader) String() string { return formatDims(h.raw, len(h.dims)) }

// readIDXHeader reads and checks an IDX header: magic, type, rank, and a promised size within
// MaxIDXBytes and the memory this process may use. Nothing is allocated by size before these checks.
func readIDXHeader(r io.Reader) (*idxHeader, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("too short for an IDX header (%s)", describeReadErr(err))
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("bad magic 0x%08x: not an IDX file (want 0x0000TTDD, TT the type, DD the rank)",
			binary.BigEndian.Uint32(magic[:]))
	}
	if magic[2] != 0x08 {
		if name, ok := idxTypeNames[magic[2]]; ok {
			return nil, fmt.Errorf("wrong dtype 0x%02x (%s): only unsigned byte (0x08) IDX files are supported", magic[2], name)
		}
		return nil, fmt.Errorf("bad magic 0x%08x: unknown dtype 0x%02x", binary.BigEndian.Uint32(magic[:]), magic[2])
	}
	rank := int(magic[3])
	if rank == 0 || rank > idxMaxDims {
		return nil, fmt.Errorf("bad magic 0x%08x: rank %d, want 1 to %d", binary.BigEndian.Uint32(magic[:]), rank, idxMaxDims)
	}
	header := make([]byte, 4*rank)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, fmt.Errorf("truncated header: want %d dimensions (%s)", rank, describeReadErr(err))
	}
	dims := make([]int, rank)
	total := int64(1)
	for i := range dims {
		d := int64(binary.BigEndian.Uint32(header[4*i:]))
		dims[i] = int(d)
		if d != 0 && total > MaxIDXBytes/d {
			return nil, fmt.Errorf("header claims dimensions %s, more than MaxIDXBytes (%d bytes): corrupt or hostile header",
				formatDims(header, rank), MaxIDXBytes)
		}
		total *= d
	}
	h := &idxHeader{dims: dims, raw: header, total: total}
	if err := memlimit.Check(fmt.Sprintf("header %s", h), total); err != nil {
		return nil, err
	}
	return h, nil
}

// decodeIDX parses uncompressed IDX data from r, whose total size is size (-1 if unknown); gzipSize,
// when not -1, is the size of the compressed file r is decompressed from. It reads r to its end, to
// reject trailing data and, for gzip, to have the checksum verified.
func decodeIDX(r io.Reader, size, gzipSize int64) (*IDX, error) {
	h, err := readIDXHeader(r)
	if err != nil {
		return nil, err
	}
	dims, header, total, rank := h.dims, h.raw, h.total, len(h.dims)
	if gzipSize >= 0 && total > maxDeflateRatio*gzipSize {
		return nil, fmt.Errorf("header %s promises %d bytes of data, more than %d bytes of gzip can hold "+
			"(deflate expands at most %d times): truncated or hostile file", h, total, gzipSize, maxDeflateRatio)
	}
	record := int64(1) // Bytes per record (image, label...), to say where data ends.
	for _, d := range dims[1:] {
		record *= int64(d)
	}
	noun := recordNoun(rank)
	if size >= 0 {
		// The size is known: check it against the header before allocating anything.
		have := size - int64(4+4*rank)
		if have < total {
			return nil, fmt.Errorf("truncated at %s %d of %d: header %s promises %d bytes of data, file has %d",
				noun, max(have, 0)/max(record, 1), dims[0], formatDims(header, rank), total, max(have, 0))
		}
		if have > total {
			return nil, fmt.Errorf("%d unexpected bytes after the last %s (header %s promises %d bytes of data)",
				have-total, noun, formatDims(header, rank), total)
		}
	}
	data, err := readGrowing(r, total)
	if err != nil {
		return nil, fmt.Errorf("truncated at %s %d of %d: header %s promises %d bytes of data, got %d (%s)",
			noun, int64(len(data))/max(record, 1), dims[0], formatDims(header, rank), total, len(data), describeReadErr(err))
	}
	var extra [1]byte
	n, err := io.ReadFull(r, extra[:])
	switch {
	case n > 0:
		return nil, fmt.Errorf("unexpected data after the last %s (header %s promises %d bytes of data)",
			noun, formatDims(header, rank), total)
	case err != io.EOF:
		return nil, fmt.Errorf("after the last %s: %s", noun, describeReadErr(err))
	}
	return &IDX{Dims: dims, Data: data}, nil
}

// readGrowing reads exactly n bytes, allocating as data arrives rather than n up front. On a short read
// it returns what it got and the error (io.ErrUnexpectedEOF for a premature end).
func readGrowing(r io.Reader, n int64) ([]byte, error) {
	buf := make([]byte, 0, min(n, readChunk))
	for int64(len(buf)) < n {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(n, int64(cap(buf))+min(int64(cap(buf)), maxGrowth)))
			copy(grown, buf)
			buf = grown
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			if int64(len(buf)) < n {
				return buf, io.ErrUnexpectedEOF
			}
			break
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// describeReadErr turns read errors into words a student can act on.
func describeReadErr(err error) string {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "premature end of file"
	case errors.Is(err, gzip.ErrChecksum):
		return "gzip checksum mismatch: the file is corrupt"
	case errors.Is(err, gzip.ErrHeader):
		return "corrupt gzip data: " + err.Error()
	}
	var corrupt flate.CorruptInputError
	if errors.As(err, &corrupt) {
		return "corrupt gzip data: " + err.Error()
	}
	return err.Error()
}

// formatDims prints the raw header dimensions, e.g. "2147483648×28×28", from the header bytes (dims may
// not fit an int on 32-bit platforms).
func formatDims(header []byte, rank int) string {
	parts := make([]string, rank)
	for i := range parts {
		parts[i] = fmt.Sprint(binary.BigEndian.Uint32(header[4*i:]))
	}
	return strings.Join(parts, "×")
}

// recordNoun names the records along the first dimension of an IDX file of the given rank.
func recordNoun(rank int) string {
	switch rank {
	case 1:
		return "label"
	case 2:
		return "row"
	default:
		return "image"
	}
}

// LoadIDX builds a set from an images file (rank 3, N×H×W grey images, or rank 4, N×H×W×C) and a
// labels file (rank 1, N labels) in IDX format, gzipped or not, checking that the counts agree and
// that every label indexes classes.
//
// Both headers are read and compared first, and the memory the two files promise is checked against
// what this process may use, before any data is read: a file whose header is self-consistent but
// disagrees with the other (a gzip of zeros claiming millions of images, say) costs nothing.
func LoadIDX(name, imagesPath, labelsPath string, classes []string) (*Set, error) {
	imgHdr, err := peekIDXHeader(imagesPath)
	if err != nil {
		return nil, err
	}
	labHdr, err := peekIDXHeader(labelsPath)
	if err != nil {
		return nil, err
	}
	if err := checkImageLabelDims(imgHdr.dims, labHdr.dims, imagesPath, labelsPath); err != nil {
		return nil, err
	}
	// The set keeps the pixels and 4 bytes per label.
	need := memlimit.Mul(imgHdr.total) + memlimit.Mul(labHdr.total, 5)
	if err := memlimit.Check(fmt.Sprintf("%s and %s (%s images)", imagesPath, labelsPath, imgHdr), need); err != nil {
		return nil, err
	}
	images, err := ReadIDX(imagesPath)
	if err != nil {
		return nil, err
	}
	labels, err := ReadIDX(labelsPath)
	if err != nil {
		return nil, err
	}
	return setFromIDX(name, images, labels, imagesPath, labelsPath, classes)
}

// peekIDXHeader reads only the header of an IDX file, gzipped or not.
func peekIDXHeader(path string) (*idxHeader, error) {
	f, _, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = bufio.NewReader(f)
	suffix := ""
	if magic, _ := r.(*bufio.Reader).Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("%s: corrupt gzip header: %w", path, err)
		}
		defer zr.Close()
		r, suffix = zr, " (gzip)"
	}
	h, err := readIDXHeader(r)
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", path, suffix, err)
	}
	return h, nil
}

// checkImageLabelDims checks that an images file's dimensions and a labels file's go together.
func checkImageLabelDims(images, labels []int, imagesPath, labelsPath string) error {
	if len(images) != 3 && len(images) != 4 {
		return fmt.Errorf("%s: has %d dimensions %v, want 3 (N×H×W) or 4 (N×H×W×C) for images",
			imagesPath, len(images), images)
	}
	if len(labels) != 1 {
		return fmt.Errorf("%s: has %d dimensions %v, want 1 for labels", labelsPath, len(labels), labels)
	}
	if labels[0] != images[0] {
		return fmt.Errorf("count mismatch: %s has %d images but %s has %d labels",
			imagesPath, images[0], labelsPath, labels[0])
	}
	return nil
}

func setFromIDX(name string, images, labels *IDX, imagesPath, labelsPath string, classes []string) (*Set, error) {
	set := &Set{Name: name, Classes: append([]string(nil), classes...)}
	if err := checkImageLabelDims(images.Dims, labels.Dims, imagesPath, labelsPath); err != nil {
		return nil, err
	}
	set.N, set.H, set.W, set.C = images.Dims[0], images.Dims[1], images.Dims[2], 1
	if len(images.Dims) == 4 {
		set.C = images.Dims[3]
	}
	if set.H == 0 || set.W == 0 || set.C == 0 {
		return nil, fmt.Errorf("%s: empty images of %d×%d×%d", imagesPath, set.H, set.W, set.C)
	}
	set.Pixels = images.Data
	set.Labels = make([]int32, set.N)
	for i, l := range labels.Data {
		if int(l) >= len(classes) {
			return nil, fmt.Errorf("%s: label %d of record %d is out of range [0,%d)", labelsPath, l, i, len(classes))
		}
		set.Labels[i] = int32(l)
	}
	if err := set.Validate(); err != nil {
		return nil, err
	}
	return set, nil
}
