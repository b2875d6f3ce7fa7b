package data

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/disintegration/imaging"

	"github.com/gonbgpu/gonbgpu/gpu/platform/memlimit"
)

// FolderOptions configures [Folder].
type FolderOptions struct {
	// Size is the side of the square images to produce. Required unless Width and Height are set.
	Size int

	// Width and Height, when both positive, give a non-square output size and override Size.
	Width, Height int

	// Channels is 0 (the default: 1 when every image loaded is grey, else 3), 3 (RGB) or 1 (grey, by
	// ITU-R BT.601 luma, as PIL's convert("L")). An image is grey when its pixels, as decoded and resized,
	// have R = G = B: 8- and 16-bit grey PNGs and JPEGs, paletted images whose colours used are grey, grey
	// images saved as RGB. Under the default, a folder of grey images gives one channel (as the
	// Fashion-MNIST files it may hold were), and a folder mixing grey and colour files gives three, the
	// grey ones repeated on R, G and B. Alpha is dropped, like PIL's convert("RGB"); CMYK JPEGs are
	// converted to RGB.
	Channels int

	// Stretch resizes every image to the output size ignoring its aspect ratio (imaging.Resize). By
	// default images are scaled to cover the output size and the excess is cropped equally from both
	// sides (imaging.Fill, anchored at the centre): objects keep their proportions, which matters more to
	// a classifier than seeing the image's outer margins.
	Stretch bool

	// Workers is the number of files decoded in parallel; default runtime.NumCPU(). Decoding JPEGs is
	// CPU-bound, so more workers than cores does not help.
	Workers int

	// SkipBad skips images that cannot be decoded (corrupt, truncated, unsupported format, too large)
	// and lists them in the FolderReport, instead of failing. Large scraped data sets nearly always hold
	// a few broken files; a teaching data set should not, so failing is the default.
	SkipBad bool

	// MaxPixels bounds the width×height an image file may declare (default 1<<25, about 5800×5800,
	// enough for a 24-megapixel photo). Decoders allocate the whole image from its header, so without
	// this bound a tiny file claiming 100000×100000 pixels would exhaust memory. Larger images count as
	// bad. Decoding needs up to 8 bytes per pixel (16-bit PNG), so the worst case is about
	// Workers × MaxPixels × 8 bytes, plus the resized copies.
	MaxPixels int

	// Name of the set; default the base name of the folder.
	Name string
}

// FolderReport tells what [Folder] read, for the user to check before training on it.
type FolderReport struct {
	// Classes and Counts give the number of images loaded per class.
	Classes []string
	Counts  []int

	// Loaded is the total number of images loaded.
	Loaded int

	// Channels is the number of channels of the set: 1 or 3 (see FolderOptions.Channels).
	Channels int

	// Colour is the number of images loaded that are not grey, and FirstColour the first of them in
	// file order: what made a mostly grey folder load as 3 channels.
	Colour      int
	FirstColour string

	// Skipped lists the bad images skipped under SkipBad, in file order.
	Skipped []BadImage

	// Ignored lists files that are not images (by content and extension) and sub-folders of class
	// folders, which are not read. Hidden files and folders (name starting with ".") are not listed.
	Ignored []string

	// Special lists the entries of class folders that are not regular files — named pipes, sockets,
	// devices, broken symbolic links — with what they are. They are never opened: opening a named pipe
	// waits for a writer forever, and a device such as /dev/zero never ends.
	Special []BadImage
}

// BadImage is an image file that could not be used, and why.
type BadImage struct {
	Path, Reason string
}

// String summarises the report in a line or a few, e.g. for a notebook cell's output.
func (r *FolderReport) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "loaded %d images in %d classes", r.Loaded, len(r.Classes))
	switch {
	case r.Colour == 0 && r.Channels == 1:
		sb.WriteString(", all grey: 1 channel")
	case r.Colour == 0:
		fmt.Fprintf(&sb, ", all grey: %d channels (as asked)", r.Channels)
	case r.Channels == 1:
		fmt.Fprintf(&sb, ", %d in colour (e.g. %s) made grey: 1 channel (as asked)", r.Colour, r.FirstColour)
	default:
		fmt.Fprintf(&sb, ", %d in colour (e.g. %s): %d channels", r.Colour, r.FirstColour, r.Channels)
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(&sb, "; skipped %d bad images:", len(r.Skipped))
		for i, b := range r.Skipped {
			if i == 10 {
				fmt.Fprintf(&sb, "\n  … and %d more", len(r.Skipped)-i)
				break
			}
			fmt.Fprintf(&sb, "\n  %s: %s", b.Path, b.Reason)
		}
	}
	if len(r.Ignored) > 0 {
		fmt.Fprintf(&sb, "\nignored %d non-image files or folders", len(r.Ignored))
	}
	if len(r.Special) > 0 {
		fmt.Fprintf(&sb, "\nnot read: %d entries that are not regular files:", len(r.Special))
		for i, b := range r.Special {
			if i == 10 {
				fmt.Fprintf(&sb, "\n  … and %d more", len(r.Special)-i)
				break
			}
			fmt.Fprintf(&sb, "\n  %s: %s", b.Path, b.Reason)
		}
	}
	return sb.String()
}

const (
	defaultMaxPixels = 1 << 25
	// maxImageFileBytes bounds one image file read into memory; no sane training image comes near it.
	maxImageFileBytes = 256 << 20
)

// imageExtensions are the extensions of files that are expected to be images: such a file that does not
// decode is a bad image, while other non-image files (notes, label lists…) are merely ignored.
var imageExtensions = map[string]bool{
	".png": true, ".jpg": true, ".jpeg": true, ".jpe": true, ".jfif": true,
	".gif": true, ".bmp": true, ".webp": true, ".tif": true, ".tiff": true,
}

// errNotImage marks a file that is neither PNG nor JPEG by content.
var errNotImage = errors.New("not a PNG or JPEG file")

// Folder reads an image classification data set laid out as one sub-folder per class:
//
//	dir/cat/0001.jpg
//	dir/cat/0002.png
//	dir/dog/a.JPEG
//
// Class ids follow the sorted (byte-wise) folder names. Files are decoded as PNG or JPEG according to
// their content, whatever their extension; images are converted to opt.Channels channels and resized
// to the output size (see [FolderOptions]). Files are decoded in parallel by opt.Workers goroutines, but
// the set's order is always that of classes then sorted file names, whatever the timing.
//
// Errors name the folder or file at fault: a missing folder, no class folders, an empty class folder, or
// (unless opt.SkipBad) a bad image — the first in file order, with the count of others.
func Folder(dir string, opt FolderOptions) (*Set, *FolderReport, error) {
	w, h := opt.Size, opt.Size
	if opt.Width > 0 && opt.Height > 0 {
		w, h = opt.Width, opt.Height
	}
	if w <= 0 || h <= 0 {
		return nil, nil, fmt.Errorf("data.Folder(%s): set FolderOptions.Size (or Width and Height) to the image size to produce", dir)
	}
	if opt.Channels != 0 && opt.Channels != 1 && opt.Channels != 3 {
		return nil, nil, fmt.Errorf("data.Folder(%s): Channels must be 1 or 3 (or 0: 1 when every image is grey, else 3), not %d", dir, opt.Channels)
	}
	// Under the default, images are decoded as RGB and reduced to one channel at the end if all are grey.
	auto := opt.Channels == 0
	if auto {
		opt.Channels = 3
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.NumCPU()
	}
	if opt.MaxPixels <= 0 {
		opt.MaxPixels = defaultMaxPixels
	}
	if opt.Name == "" {
		opt.Name = filepath.Base(filepath.Clean(dir))
	}
	report := &FolderReport{}

	// List classes and files, in a deterministic order.
	classes, err := listVisible(dir, true)
	if err != nil {
		return nil, nil, err
	}
	if len(classes) == 0 {
		return nil, nil, fmt.Errorf("%s: no class folders (want one sub-folder of images per class)", dir)
	}
	// Special entries beside the class folders are not read either; say so.
	if top, err := os.ReadDir(dir); err == nil {
		for _, e := range top {
			p := filepath.Join(dir, e.Name())
			if !strings.HasPrefix(e.Name(), ".") && !isDir(p, e) {
				if why := notRegular(p, e); why != "" {
					report.Special = append(report.Special, BadImage{p, why})
				}
			}
		}
	}
	type file struct {
		path  string
		class int32
	}
	var files []file
	for c, class := range classes {
		classDir := filepath.Join(dir, class)
		entries, err := os.ReadDir(classDir)
		if err != nil {
			return nil, nil, err
		}
		n := 0
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			p := filepath.Join(classDir, e.Name())
			if isDir(p, e) {
				report.Ignored = append(report.Ignored, p+string(filepath.Separator))
				continue
			}
			if why := notRegular(p, e); why != "" {
				report.Special = append(report.Special, BadImage{p, why})
				continue
			}
			files = append(files, file{p, int32(c)})
			n++
		}
		if n == 0 {
			return nil, nil, fmt.Errorf("%s: class folder %q is empty%s", classDir, class, specialsUnder(classDir, report.Special))
		}
	}

	// Decode in parallel, each result into its own slot: the order is fixed before any goroutine runs.
	// The pixels of every image are allocated at once: check first that they fit.
	what := fmt.Sprintf("%s: %d files as %d×%d×%d images", dir, len(files), w, h, opt.Channels)
	if err := memlimit.Check(what, memlimit.Mul(int64(len(files)), int64(w), int64(h), int64(opt.Channels))); err != nil {
		return nil, nil, err
	}
	size, ok := mulNoOverflow(w, h, opt.Channels)
	total, ok2 := mulNoOverflow(len(files), size)
	if !ok || !ok2 {
		return nil, nil, fmt.Errorf("%s overflow the address space", what)
	}
	pixels := make([]uint8, total)
	errs := make([]error, len(files))
	colour := make([]bool, len(files))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(opt.Workers, len(files)) {
		wg.Go(func() {
			for i := range jobs {
				colour[i], errs[i] = loadImageFile(files[i].path, pixels[i*size:(i+1)*size], w, h, opt)
			}
		})
	}
	for i := range files {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	// Compact the good images to the front, in order, and collect the bad ones.
	set := &Set{Name: opt.Name, H: h, W: w, C: opt.Channels, Classes: classes}
	report.Classes = classes
	report.Counts = make([]int, len(classes))
	var bad []BadImage
	for i, f := range files {
		switch {
		case errs[i] == nil:
			copy(pixels[set.N*size:(set.N+1)*size], pixels[i*size:(i+1)*size])
			set.Labels = append(set.Labels, f.class)
			set.N++
			report.Counts[f.class]++
			if colour[i] {
				if report.Colour == 0 {
					report.FirstColour = f.path
				}
				report.Colour++
			}
		case errors.Is(errs[i], errNotImage) && !imageExtensions[strings.ToLower(filepath.Ext(f.path))]:
			report.Ignored = append(report.Ignored, f.path)
		default:
			bad = append(bad, BadImage{f.path, errs[i].Error()})
		}
	}
	set.Pixels = pixels[: set.N*size : set.N*size]
	if auto && report.Colour == 0 {
		// Every image is grey (R = G = B): keep one channel, in a buffer of its own so that the RGB one
		// is freed.
		grey := make([]uint8, set.N*w*h)
		for i := range grey {
			grey[i] = set.Pixels[3*i]
		}
		set.Pixels, set.C = grey, 1
	}
	report.Channels = set.C
	report.Loaded = set.N
	if len(bad) > 0 && !opt.SkipBad {
		more := ""
		if len(bad) > 1 {
			more = fmt.Sprintf(" (and %d more bad images)", len(bad)-1)
		}
		return nil, nil, fmt.Errorf("%s: %s%s; set SkipBad to skip bad images", bad[0].Path, bad[0].Reason, more)
	}
	report.Skipped = bad
	for c, n := range report.Counts {
		if n == 0 {
			return nil, report, fmt.Errorf("%s: class folder %q has no usable images (%d skipped or ignored)",
				filepath.Join(dir, classes[c]), classes[c], countUnder(filepath.Join(dir, classes[c]), bad, report.Ignored))
		}
	}
	if err := set.Validate(); err != nil {
		return nil, nil, err
	}
	return set, report, nil
}

// listVisible returns the sorted names of dir's non-hidden entries that are folders (dirs true, symbolic
// links followed) or not.
func listVisible(dir string, dirs bool) ([]string, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err // Names dir.
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a folder", dir)
	}
	entries, err := os.ReadDir(dir) // Sorted by name.
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") && isDir(filepath.Join(dir, e.Name()), e) == dirs {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// notRegular says what entry e at path p is when it is not a regular file (symbolic links followed),
// or "" when it is one.
func notRegular(p string, e os.DirEntry) string {
	mode := e.Type()
	if mode&os.ModeSymlink != 0 {
		fi, err := os.Stat(p)
		if err != nil {
			return "a broken symbolic link: not read"
		}
		mode = fi.Mode()
	}
	if mode.IsRegular() {
		return ""
	}
	return describeMode(mode) + ", not a regular file: not read"
}

// specialsUnder describes the special entries found in dir, for the error of an empty class folder.
func specialsUnder(dir string, special []BadImage) string {
	n := 0
	for _, b := range special {
		if filepath.Dir(b.Path) == dir {
			n++
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d entries that are not regular files, e.g. named pipes, were not read)", n)
}

// isDir reports whether entry e at path p is a folder, following symbolic links.
func isDir(p string, e os.DirEntry) bool {
	if e.Type()&os.ModeSymlink != 0 {
		fi, err := os.Stat(p)
		return err == nil && fi.IsDir()
	}
	return e.IsDir()
}

func countUnder(dir string, bad []BadImage, ignored []string) int {
	n := 0
	for _, b := range bad {
		if filepath.Dir(b.Path) == dir {
			n++
		}
	}
	for _, p := range ignored {
		if filepath.Dir(p) == dir {
			n++
		}
	}
	return n
}

// loadImageFile reads, decodes and resizes the image at path into dst (w×h×opt.Channels bytes), and
// says whether it is in colour (see decodeImage).
// It never panics: a decoder panic on a malicious file becomes an error for that file.
func loadImageFile(path string, dst []uint8, w, h int, opt FolderOptions) (colour bool, err error) {
	f, fi, err := openRegular(path) // a file swapped for a pipe since the listing must not hang the loader
	if err != nil {
		return false, err
	}
	defer f.Close()
	if fi.Size() > maxImageFileBytes {
		return false, fmt.Errorf("file larger than %d MiB", maxImageFileBytes>>20)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxImageFileBytes+1))
	if err != nil {
		return false, err
	}
	if len(data) > maxImageFileBytes {
		return false, fmt.Errorf("file larger than %d MiB", maxImageFileBytes>>20)
	}
	return decodeImage(data, dst, w, h, opt.Channels, opt.Stretch, opt.MaxPixels)
}

var (
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
	jpegMagic = []byte{0xff, 0xd8, 0xff}
)

// decodeImage decodes a PNG or JPEG (chosen by content) from data and writes it resized to w×h with c
// channels into dst. Images declaring more than maxPixels pixels are refused before decoding. colour
// tells whether the resized image has a pixel with R, G and B not all equal: whatever the file's colour
// model (grey, 16-bit grey, paletted, RGB with or without alpha, YCbCr, CMYK), an image is grey when what
// is kept of it is. Resizing treats R, G and B alike, so a grey image stays exactly grey.
func decodeImage(data, dst []uint8, w, h, c int, stretch bool, maxPixels int) (colour bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoder panic: %v", r)
		}
	}()
	var decode func(io.Reader) (image.Image, error)
	var decodeConfig func(io.Reader) (image.Config, error)
	var format string
	switch {
	case bytes.HasPrefix(data, pngMagic):
		decode, decodeConfig, format = png.Decode, png.DecodeConfig, "PNG"
	case bytes.HasPrefix(data, jpegMagic):
		decode, decodeConfig, format = jpeg.Decode, jpeg.DecodeConfig, "JPEG"
	default:
		return false, errNotImage
	}
	cfg, err := decodeConfig(bytes.NewReader(data))
	if err != nil {
		return false, decodeError(format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return false, fmt.Errorf("%s has empty size %d×%d", format, cfg.Width, cfg.Height)
	}
	if pixels, ok := mulNoOverflow(cfg.Width, cfg.Height); !ok || pixels > maxPixels {
		return false, fmt.Errorf("%s of %d×%d pixels exceeds the limit of %d pixels (FolderOptions.MaxPixels)",
			format, cfg.Width, cfg.Height, maxPixels)
	}
	img, err := decode(bytes.NewReader(data))
	if err != nil {
		return false, decodeError(format, err)
	}
	var resized *image.NRGBA
	if stretch {
		resized = imaging.Resize(img, w, h, imaging.Linear)
	} else {
		resized = imaging.Fill(img, w, h, imaging.Center, imaging.Linear)
	}
	if b := resized.Bounds(); b.Dx() != w || b.Dy() != h {
		return false, fmt.Errorf("resizing %s of %d×%d gave %d×%d, want %d×%d", format, cfg.Width, cfg.Height, b.Dx(), b.Dy(), w, h)
	}
	for y := range h {
		row := resized.Pix[y*resized.Stride : y*resized.Stride+4*w]
		out := dst[y*w*c : (y+1)*w*c]
		for x := range w {
			r, g, b := row[4*x], row[4*x+1], row[4*x+2]
			colour = colour || r != g || g != b
			if c == 1 {
				out[x] = uint8((299*uint32(r) + 587*uint32(g) + 114*uint32(b) + 500) / 1000)
			} else {
				out[3*x], out[3*x+1], out[3*x+2] = r, g, b
			}
		}
	}
	return colour, nil
}

// decodeError describes a decoder's error, telling truncated files (the usual result of an interrupted
// copy or download) from otherwise corrupt ones.
func decodeError(format string, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || err.Error() == "jpeg: short Huffman data" {
		return fmt.Errorf("truncated %s: %w", format, err)
	}
	return fmt.Errorf("corrupt %s: %w", format, err)
}
