package kernel

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"regexp"
	"strings"
	"testing"
)

func TestImagesHTMLIsPNG(t *testing.T) {
	grey, err := FromPixels([]uint8{0, 255, 128, 64, 1, 2}, 2, 3, 1)
	if err != nil {
		t.Fatal(err)
	}
	rgb, err := FromPixels([]uint8{255, 0, 0, 0, 255, 0}, 1, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	pics := []Picture{{Image: grey, Caption: "Shirt <1>"}, {Image: rgb, Caption: "Bag", Mark: true}}
	h, err := ImagesHTML("grid", pics, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	srcs := regexp.MustCompile(`src="data:image/png;base64,([^"]+)"`).FindAllStringSubmatch(h, -1)
	if len(srcs) != 2 {
		t.Fatalf("%d PNG images in the HTML, want 2:\n%s", len(srcs), h)
	}
	data, _ := base64.StdEncoding.DecodeString(srcs[0][1])
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if r, g, _, _ := img.At(1, 0).RGBA(); r>>8 != 255 || g>>8 != 255 || img.Bounds().Dx() != 3 || img.Bounds().Dy() != 2 {
		t.Errorf("decoded PNG differs from the pixels: %v at (1,0), bounds %v", img.At(1, 0), img.Bounds())
	}
	if !strings.Contains(h, "Shirt &lt;1&gt;") || !strings.Contains(h, `width="12" height="8"`) || !strings.Contains(h, "#d55e00") {
		t.Errorf("caption escaping, zoom or mark missing:\n%s", h)
	}
	if got := ImagesText("grid", pics, 2); got != "grid\nShirt <1> | *Bag\n" {
		t.Errorf("text form %q", got)
	}
}

func TestFromPixelsErrors(t *testing.T) {
	if _, err := FromPixels(make([]uint8, 5), 2, 3, 1); err == nil || !strings.Contains(err.Error(), "5 bytes") {
		t.Errorf("wrong size: %v", err)
	}
	if _, err := FromPixels(make([]uint8, 8), 2, 2, 2); err == nil {
		t.Errorf("2 channels accepted")
	}
}

func TestPNGBytes(t *testing.T) {
	grey, err := FromPixels([]uint8{7, 200}, 1, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	data, err := pngBytes(grey)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil || img.Bounds().Dx() != 2 {
		t.Fatalf("decoded %v, %v", img, err)
	}
	if g, _, _, _ := img.At(1, 0).RGBA(); g>>8 != 200 {
		t.Errorf("pixel (1,0) is %d, want 200", g>>8)
	}
	if _, err := pngBytes(nil); err == nil || !strings.Contains(err.Error(), "empty image") {
		t.Errorf("a nil image: %v", err)
	}
}
