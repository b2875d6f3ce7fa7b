package data

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonbgpu/gonbgpu/gpu/platform/memlimit"
)

// solid returns a w×h image of one colour.
func solid(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

// hugePNG returns a valid-looking PNG whose header declares w×h pixels but holds almost no data.
func hugePNG(t testing.TB, w, h uint32) []byte {
	data := pngBytes(t, solid(1, 1, color.NRGBA{1, 2, 3, 255}))
	// The IHDR chunk follows the 8-byte signature: length (4), "IHDR" (4), width, height, ..., CRC.
	binary.BigEndian.PutUint32(data[16:], w)
	binary.BigEndian.PutUint32(data[20:], h)
	binary.BigEndian.PutUint32(data[29:], crc32.ChecksumIEEE(data[12:29]))
	return data
}

// writeFolder writes a small classification folder and returns its path. Classes are written out of
// order to check sorting; each image is a solid colour encoding (class, file).
func writeFolder(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	colour := func(class, file int) color.NRGBA {
		return color.NRGBA{uint8(40 * class), uint8(60 * file), 200, 255}
	}
	// dog = class 2, cat = class 1, bird = class 0 (sorted names).
	writeFile(t, filepath.Join(dir, "dog", "b.png"), pngBytes(t, solid(8, 8, colour(2, 1))))
	writeFile(t, filepath.Join(dir, "dog", "a.PNG"), pngBytes(t, solid(8, 8, colour(2, 0))))
	writeFile(t, filepath.Join(dir, "cat", "1.jpeg"), jpegBytes(t, solid(16, 16, colour(1, 0))))
	writeFile(t, filepath.Join(dir, "cat", "2.JPG"), jpegBytes(t, solid(12, 20, colour(1, 1))))
	writeFile(t, filepath.Join(dir, "cat", "3.jpg"), pngBytes(t, solid(8, 8, colour(1, 2)))) // PNG content, .jpg name.
	writeFile(t, filepath.Join(dir, "bird", "x.png"), pngBytes(t, solid(4, 4, colour(0, 0))))
	// Not images: ignored. Hidden files and folders are not even listed.
	writeFile(t, filepath.Join(dir, "bird", "notes.txt"), []byte("not an image"))
	writeFile(t, filepath.Join(dir, "bird", ".DS_Store"), []byte("junk"))
	writeFile(t, filepath.Join(dir, ".hidden", "y.png"), pngBytes(t, solid(8, 8, colour(0, 0))))
	writeFile(t, filepath.Join(dir, "README.md"), []byte("# data"))
	return dir
}

func TestFolder(t *testing.T) {
	dir := writeFolder(t)
	set, report, err := Folder(dir, FolderOptions{Size: 8})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(set.Classes, []string{"bird", "cat", "dog"}) {
		t.Fatalf("classes %v", set.Classes)
	}
	if set.N != 6 || set.H != 8 || set.W != 8 || set.C != 3 || set.Name != filepath.Base(dir) {
		t.Fatalf("read %v", set)
	}
	if want := []int32{0, 1, 1, 1, 2, 2}; !slices.Equal(set.Labels, want) {
		t.Fatalf("labels %v, want %v (classes, then sorted file names)", set.Labels, want)
	}
	// Images in order bird/x, cat/1, cat/2, cat/3, dog/a.PNG, dog/b: check each one's colour (JPEG is
	// lossy: allow a small error).
	wantColours := [][3]int{{0, 0, 200}, {40, 0, 200}, {40, 60, 200}, {40, 120, 200}, {80, 0, 200}, {80, 60, 200}}
	for i, want := range wantColours {
		img := set.Image(i)
		for p := 0; p < len(img); p += 3 {
			for c := range 3 {
				if d := int(img[p+c]) - want[c]; d < -4 || d > 4 {
					t.Fatalf("image %d pixel %d channel %d = %d, want %d", i, p/3, c, img[p+c], want[c])
				}
			}
		}
	}
	if report.Loaded != 6 || !slices.Equal(report.Counts, []int{1, 3, 2}) || len(report.Skipped) != 0 {
		t.Errorf("report %+v", report)
	}
	if !slices.Equal(report.Ignored, []string{filepath.Join(dir, "bird", "notes.txt")}) {
		t.Errorf("ignored %v, want only bird/notes.txt", report.Ignored)
	}
}

func TestFolderDeterministicAcrossWorkers(t *testing.T) {
	dir := t.TempDir()
	for i := range 24 {
		img := testImage(10+i, 7+i%5, uint8(i))
		data := pngBytes(t, img)
		if i%2 == 1 {
			data = jpegBytes(t, img)
		}
		writeFile(t, filepath.Join(dir, fmt.Sprintf("c%d", i%3), fmt.Sprintf("%02d.img", i)), data)
	}
	one, _, err := Folder(dir, FolderOptions{Width: 9, Height: 6, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		many, _, err := Folder(dir, FolderOptions{Width: 9, Height: 6, Workers: 7})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(one.Pixels, many.Pixels) || !slices.Equal(one.Labels, many.Labels) {
			t.Fatal("result depends on the number of workers")
		}
	}
	if one.N != 24 || one.W != 9 || one.H != 6 {
		t.Fatalf("read %v", one)
	}
}

func TestFolderFillStretchGrey(t *testing.T) {
	dir := t.TempDir()
	// 16×8: green in columns 0-3, red in 4-11, blue in 12-15.
	img := solid(16, 8, color.NRGBA{255, 0, 0, 255})
	for y := range 8 {
		for x := range 4 {
			img.SetNRGBA(x, y, color.NRGBA{0, 255, 0, 255})
			img.SetNRGBA(15-x, y, color.NRGBA{0, 0, 255, 255})
		}
	}
	writeFile(t, filepath.Join(dir, "only", "a.png"), pngBytes(t, img))

	// Fill scales the 8-pixel height to 8 and crops the centre 8 columns: all red.
	fill, _, err := Folder(dir, FolderOptions{Size: 8})
	if err != nil {
		t.Fatal(err)
	}
	for p := 0; p < 64; p++ {
		if px := fill.Pixels[3*p : 3*p+3]; !bytes.Equal(px, []byte{255, 0, 0}) {
			t.Fatalf("Fill: pixel %d = %v, want red", p, px)
		}
	}
	// Stretch squeezes all 16 columns into 8: the left edge is green, the right edge blue.
	stretch, _, err := Folder(dir, FolderOptions{Size: 8, Stretch: true})
	if err != nil {
		t.Fatal(err)
	}
	if left, right := stretch.Pixels[0:3], stretch.Pixels[21:24]; left[1] < 200 || right[2] < 200 {
		t.Fatalf("Stretch: left pixel %v should be green, right pixel %v blue", left, right)
	}
	// One channel: BT.601 luma of red is 0.299×255 = 76.
	grey, _, err := Folder(dir, FolderOptions{Size: 8, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	if grey.C != 1 || len(grey.Pixels) != 64 || grey.Pixels[10] != 76 {
		t.Fatalf("grey: C=%d, %d bytes, pixel 10 = %d; want 1, 64, 76", grey.C, len(grey.Pixels), grey.Pixels[10])
	}
}

func TestFolderErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	_, _, err := Folder(missing, FolderOptions{Size: 8})
	wantErr(t, err, missing)

	noClasses := t.TempDir()
	writeFile(t, filepath.Join(noClasses, "a.png"), pngBytes(t, solid(2, 2, color.NRGBA{})))
	_, _, err = Folder(noClasses, FolderOptions{Size: 8})
	wantErr(t, err, noClasses, "no class folders")

	emptyClass := writeFolder(t)
	if err := os.MkdirAll(filepath.Join(emptyClass, "empty", ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(emptyClass, "empty", ".hidden.png"), pngBytes(t, solid(2, 2, color.NRGBA{})))
	_, _, err = Folder(emptyClass, FolderOptions{Size: 8})
	wantErr(t, err, filepath.Join(emptyClass, "empty"), "is empty")

	_, _, err = Folder(writeFolder(t), FolderOptions{})
	wantErr(t, err, "Size")
	_, _, err = Folder(writeFolder(t), FolderOptions{Size: 4, Channels: 2})
	wantErr(t, err, "Channels must be 1 or 3")

	full := pngBytes(t, testImage(20, 20, 9))
	fullJPEG := jpegBytes(t, testImage(20, 20, 9))
	for _, tc := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"truncated.png", full[:len(full)/2], "PNG"},
		{"truncated.jpg", fullJPEG[:len(fullJPEG)/2], "truncated JPEG"},
		{"corrupt.png", append(slices.Clone(full[:40]), bytes.Repeat([]byte{0x55}, 200)...), "corrupt PNG"},
		{"text.jpg", []byte("this is not an image"), "not a PNG or JPEG"},
		{"huge.png", hugePNG(t, 100000, 100000), "exceeds the limit"},
		{"gif.gif", []byte("GIF89a..."), "not a PNG or JPEG"},
	} {
		dir := writeFolder(t)
		bad := writeFile(t, filepath.Join(dir, "cat", tc.name), tc.content)
		var err error
		allocated := allocatedBy(func() { _, _, err = Folder(dir, FolderOptions{Size: 8}) })
		wantErr(t, err, bad, tc.want, "SkipBad")
		if allocated > 64<<20 {
			t.Errorf("%s: allocated %d MiB", tc.name, allocated>>20)
		}
	}
}

func TestFolderSkipBad(t *testing.T) {
	dir := writeFolder(t)
	bad1 := writeFile(t, filepath.Join(dir, "cat", "0-bad.png"), []byte("\x89PNG\r\n\x1a\nbroken"))
	bad2 := writeFile(t, filepath.Join(dir, "dog", "c.jpeg"), []byte{0xff, 0xd8, 0xff, 0xe0, 0, 1})
	_, _, err := Folder(dir, FolderOptions{Size: 8})
	wantErr(t, err, bad1, "and 1 more bad images")

	set, report, err := Folder(dir, FolderOptions{Size: 8, SkipBad: true})
	if err != nil {
		t.Fatal(err)
	}
	if set.N != 6 || report.Loaded != 6 || len(report.Skipped) != 2 {
		t.Fatalf("SkipBad: %d images, report %+v; want 6 loaded and 2 skipped", set.N, report)
	}
	if report.Skipped[0].Path != bad1 || report.Skipped[1].Path != bad2 || report.Skipped[1].Reason == "" {
		t.Errorf("skipped %+v, want %s then %s with reasons", report.Skipped, bad1, bad2)
	}
	if want := []int32{0, 1, 1, 1, 2, 2}; !slices.Equal(set.Labels, want) {
		t.Errorf("labels %v, want %v", set.Labels, want)
	}
	if s := report.String(); !bytes.Contains([]byte(s), []byte("skipped 2 bad images")) {
		t.Errorf("report.String() = %q", s)
	}

	// A class left with no image at all is still an error.
	writeFile(t, filepath.Join(dir, "zebra", "z.png"), []byte("\x89PNG\r\n\x1a\n"))
	_, _, err = Folder(dir, FolderOptions{Size: 8, SkipBad: true})
	wantErr(t, err, filepath.Join(dir, "zebra"), "no usable images")
}

// TestFolderSpecialFiles: a named pipe, a broken symbolic link and a link to a device in a class folder
// are not opened (the old code hung on the pipe) and the report names each with what it is.
func TestFolderSpecialFiles(t *testing.T) {
	dir := writeFolder(t)
	fifo := filepath.Join(dir, "dog", "c.png")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("cannot make a named pipe here: %v", err)
	}
	broken := filepath.Join(dir, "cat", "4.jpg")
	if err := os.Symlink(filepath.Join(dir, "nowhere.jpg"), broken); err != nil {
		t.Fatal(err)
	}
	device := filepath.Join(dir, "bird", "zero.png")
	if err := os.Symlink("/dev/zero", device); err != nil {
		t.Fatal(err)
	}
	topFIFO := filepath.Join(dir, "labels.fifo")
	if err := syscall.Mkfifo(topFIFO, 0o644); err != nil {
		t.Fatal(err)
	}
	type result struct {
		set    *Set
		report *FolderReport
		err    error
	}
	done := make(chan result, 1)
	go func() {
		set, report, err := Folder(dir, FolderOptions{Size: 8})
		done <- result{set, report, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(hangGuard):
		t.Fatal("Folder hangs on a named pipe")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.set.N != 6 {
		t.Errorf("loaded %d images, want the 6 regular ones", r.set.N)
	}
	want := map[string]string{fifo: "a named pipe (FIFO)", broken: "a broken symbolic link", device: "a character device",
		topFIFO: "a named pipe (FIFO)"}
	if len(r.report.Special) != len(want) {
		t.Fatalf("report.Special = %v, want %d entries", r.report.Special, len(want))
	}
	for _, b := range r.report.Special {
		if w, ok := want[b.Path]; !ok || !strings.Contains(b.Reason, w) || !strings.Contains(b.Reason, "not read") {
			t.Errorf("special entry %s: %q, want %q", b.Path, b.Reason, w)
		}
	}
	if s := r.report.String(); !strings.Contains(s, "4 entries that are not regular files") || !strings.Contains(s, fifo+": a named pipe") {
		t.Errorf("report does not say what was skipped:\n%s", s)
	}

	// A class folder holding only a pipe is empty, and the error says why.
	only := filepath.Join(dir, "pipes")
	os.Mkdir(only, 0o755)
	if err := syscall.Mkfifo(filepath.Join(only, "p.png"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := Folder(dir, FolderOptions{Size: 8})
	wantErr(t, err, only, "is empty", "1 entries that are not regular files")

	// loadImageFile itself refuses a pipe (one swapped in after the listing).
	if _, err := loadImageFile(fifo, make([]uint8, 8*8*3), 8, 8, FolderOptions{Channels: 3, MaxPixels: 1 << 20}); err == nil ||
		!strings.Contains(err.Error(), "named pipe") {
		t.Errorf("loadImageFile on a pipe: %v", err)
	}
}

// TestFolderMemoryBudget: an output size whose pixels cannot fit in memory is refused before anything
// is allocated or decoded, with the figure (the issue's --size 20000: 1.1 GiB per RGB image).
func TestFolderMemoryBudget(t *testing.T) {
	dir := writeFolder(t)
	var err error
	allocated := allocatedBy(func() { _, _, err = Folder(dir, FolderOptions{Size: 1 << 20}) })
	wantErr(t, err, dir, "7 files as 1048576×1048576×3 images needs at least 21.0 TiB of memory")
	if allocated > 1<<20 {
		t.Errorf("allocated %d MiB before refusing", allocated>>20)
	}
	old := memlimit.Available
	defer func() { memlimit.Available = old }()
	memlimit.Available = func() memlimit.Budget { return memlimit.Budget{Bytes: 100 << 10, Source: "test budget"} }
	_, _, err = Folder(dir, FolderOptions{Size: 100})
	wantErr(t, err, "7 files as 100×100×3 images needs at least 205 KiB of memory", "100 KiB (test budget)")
}

// greyFolder writes one image of grey level v (8×8) in each of the colour models a user's folder of grey
// files may hold, and returns the folder.
func greyFolder(t *testing.T, v uint8) string {
	t.Helper()
	dir := t.TempDir()
	g8 := image.NewGray(image.Rect(0, 0, 8, 8))
	g16 := image.NewGray16(image.Rect(0, 0, 8, 8))
	pal := image.NewPaletted(image.Rect(0, 0, 8, 8), color.Palette{color.Gray{0}, color.Gray{v}, color.RGBA{255, 0, 0, 255}})
	for i := range g8.Pix {
		g8.Pix[i] = v
		pal.Pix[i] = 1 // the palette holds a red, unused: the image is grey
	}
	for i := 0; i < len(g16.Pix); i += 2 {
		g16.Pix[i], g16.Pix[i+1] = v, v // v·257: exactly v in 8 bits
	}
	writeFile(t, filepath.Join(dir, "a", "gray8.png"), pngBytes(t, g8))
	writeFile(t, filepath.Join(dir, "a", "gray16.png"), pngBytes(t, g16))
	writeFile(t, filepath.Join(dir, "a", "paletted.png"), pngBytes(t, pal))
	writeFile(t, filepath.Join(dir, "b", "gray.jpg"), jpegBytes(t, g8))
	writeFile(t, filepath.Join(dir, "b", "rgb-alpha.png"), pngBytes(t, solid(8, 8, color.NRGBA{v, v, v, 128})))
	writeFile(t, filepath.Join(dir, "b", "ycbcr.jpg"), jpegBytes(t, solid(8, 8, color.NRGBA{v, v, v, 255})))
	return dir
}

// A folder of grey files, whatever their colour model, loads as one channel under the default Channels;
// with one colour file beside them it loads as three, the grey ones repeated on R, G and B.
func TestFolderChannelsFollowTheImages(t *testing.T) {
	const v = 90
	dir := greyFolder(t, v)
	set, report, err := Folder(dir, FolderOptions{Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	if set.C != 1 || len(set.Pixels) != 6*4*4 || report.Channels != 1 || report.Colour != 0 {
		t.Fatalf("grey folder: C=%d, %d bytes, report %d channels, %d colour; want 1, %d, 1, 0",
			set.C, len(set.Pixels), report.Channels, report.Colour, 6*4*4)
	}
	if cap(set.Pixels) != len(set.Pixels) {
		t.Errorf("grey folder: the pixels keep a buffer of %d bytes for %d", cap(set.Pixels), len(set.Pixels))
	}
	for i, p := range set.Pixels {
		if p < v-2 || p > v+2 { // JPEG may be off by a level or two
			t.Fatalf("grey folder: pixel %d of image %d = %d, want %d", i%16, i/16, p, v)
		}
	}
	if s := report.String(); !strings.Contains(s, "all grey: 1 channel") {
		t.Errorf("report.String() = %q", s)
	}

	// One colour JPEG among them: three channels, every grey image R = G = B.
	colourFile := writeFile(t, filepath.Join(dir, "b", "z-colour.jpg"), jpegBytes(t, solid(8, 8, color.NRGBA{200, 30, 60, 255})))
	set, report, err = Folder(dir, FolderOptions{Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	if set.C != 3 || len(set.Pixels) != 7*4*4*3 || report.Colour != 1 || report.FirstColour != colourFile {
		t.Fatalf("mixed folder: C=%d, %d bytes, %d colour (%q); want 3, %d, 1 (%q)",
			set.C, len(set.Pixels), report.Colour, report.FirstColour, 7*4*4*3, colourFile)
	}
	for i := range 6 {
		img := set.Image(i)
		for p := 0; p < len(img); p += 3 {
			if img[p] != img[p+1] || img[p+1] != img[p+2] {
				t.Fatalf("mixed folder: grey image %d has pixel %v", i, img[p:p+3])
			}
		}
	}
	if img := set.Image(6); img[0] < 150 || img[1] > 80 {
		t.Errorf("mixed folder: the colour image's first pixel is %v, want about (200, 30, 60)", img[:3])
	}
	if s := report.String(); !strings.Contains(s, "1 in colour (e.g. "+colourFile+"): 3 channels") {
		t.Errorf("report.String() = %q", s)
	}

	// Channels given: kept, whatever the images are.
	for _, c := range []int{1, 3} {
		set, _, err := Folder(dir, FolderOptions{Size: 4, Channels: c})
		if err != nil {
			t.Fatal(err)
		}
		if set.C != c || len(set.Pixels) != 7*4*4*c {
			t.Errorf("Channels %d: C=%d, %d bytes", c, set.C, len(set.Pixels))
		}
	}
}

// A CMYK JPEG (as Photoshop saves for print) loads as the colour picture it is: Go's image library's
// test picture in CMYK JPEG, beside its decoding saved as an RGB PNG (Go's own tests compare the two).
func TestFolderCMYKJPEG(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"video-001.cmyk.jpeg", "video-001.cmyk.png"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "pictures", name), b)
	}
	if img, err := jpeg.Decode(bytes.NewReader(mustRead(t, filepath.Join(dir, "pictures", "video-001.cmyk.jpeg")))); err != nil {
		t.Fatal(err)
	} else if _, ok := img.(*image.CMYK); !ok {
		t.Fatalf("the fixture decodes as %T, not *image.CMYK", img)
	}
	set, report, err := Folder(dir, FolderOptions{Size: 16})
	if err != nil {
		t.Fatal(err)
	}
	if set.C != 3 || report.Colour != 2 {
		t.Fatalf("C=%d, %d colour images; want 3, 2", set.C, report.Colour)
	}
	cmyk, rgb := set.Image(0), set.Image(1)
	var diff float64
	for i := range cmyk {
		diff += math.Abs(float64(cmyk[i]) - float64(rgb[i]))
	}
	if diff /= float64(len(cmyk)); diff > 8 {
		t.Errorf("the CMYK JPEG differs from its decoding in RGB PNG by %.1f levels on average", diff)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
