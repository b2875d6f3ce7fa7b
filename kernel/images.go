package kernel

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/png"
	"strings"

	"github.com/janpfeifer/gonb/gonbui/protocol"
)

// Picture is one image of a grid, with its caption. Mark draws it with an orange frame (say, a
// misclassified image).
type Picture struct {
	Image   image.Image
	Caption string
	Mark    bool
}

// FromPixels wraps HWC bytes (row-major, channels last: 1 channel is grey, 3 are RGB) as an image, the
// layout of vision/data's sets and augment's ToUint8.
func FromPixels(pix []uint8, h, w, c int) (image.Image, error) {
	if h <= 0 || w <= 0 || (c != 1 && c != 3) || len(pix) != h*w*c {
		return nil, fmt.Errorf("kernel.FromPixels: %d bytes do not make a %d×%d image with %d channel(s) (want 1 or 3)", len(pix), h, w, c)
	}
	if c == 1 {
		g := image.NewGray(image.Rect(0, 0, w, h))
		copy(g.Pix, pix)
		return g, nil
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < h*w; i++ {
		img.Set(i%w, i/w, color.RGBA{pix[3*i], pix[3*i+1], pix[3*i+2], 0xff})
	}
	return img, nil
}

// ImagesHTML renders pictures as a grid, cols per row, each an inline PNG (<img src="data:image/png;
// base64,…">) scaled by zoom with sharp pixels, its caption below. The PNGs travel inside the notebook, so
// the grid shows on GitHub and in HTML exports, with no files beside the notebook.
func ImagesHTML(title string, pics []Picture, cols, zoom int) (string, error) {
	if cols <= 0 {
		cols = 8
	}
	if zoom <= 0 {
		zoom = 3
	}
	var b strings.Builder
	b.WriteString(`<div class="gonbgpu-images">`)
	if title != "" {
		fmt.Fprintf(&b, `<div style="font-family:monospace;font-weight:bold;margin:4px 0">%s</div>`, html.EscapeString(title))
	}
	fmt.Fprintf(&b, `<div style="display:grid;grid-template-columns:repeat(%d,max-content);gap:6px">`, cols)
	for i, p := range pics {
		if p.Image == nil {
			return "", fmt.Errorf("picture %d (%q) has no image", i, p.Caption)
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, p.Image); err != nil {
			return "", fmt.Errorf("picture %d (%q): %w", i, p.Caption, err)
		}
		r := p.Image.Bounds()
		border := "1px solid #ccc"
		if p.Mark {
			border = "3px solid #d55e00"
		}
		fmt.Fprintf(&b, `<figure style="margin:0;text-align:center;font-family:sans-serif;font-size:11px">`+
			`<img src="data:image/png;base64,%s" width="%d" height="%d" alt="%s" style="image-rendering:pixelated;border:%s">`+
			`<figcaption style="max-width:%dpx">%s</figcaption></figure>`,
			base64.StdEncoding.EncodeToString(buf.Bytes()), r.Dx()*zoom, r.Dy()*zoom, html.EscapeString(p.Caption), border,
			max(r.Dx()*zoom, 60), html.EscapeString(p.Caption))
	}
	b.WriteString(`</div></div>`)
	return b.String(), nil
}

// ImagesText is the grid's text form: the title and the captions, cols per line, marked ones with "*".
func ImagesText(title string, pics []Picture, cols int) string {
	if cols <= 0 {
		cols = 8
	}
	var b strings.Builder
	if title != "" {
		b.WriteString(title + "\n")
	}
	for i, p := range pics {
		c := p.Caption
		if p.Mark {
			c = "*" + c
		}
		if i%cols > 0 {
			b.WriteString(" | ")
		}
		b.WriteString(c)
		if i%cols == cols-1 || i == len(pics)-1 {
			b.WriteString("\n")
		}
	}
	return b.String()
}

// ShowImages displays pictures as a grid in a notebook (cols per row, zoom× their size), and prints the
// captions elsewhere.
func ShowImages(title string, pics []Picture, cols, zoom int) error {
	h, err := ImagesHTML(title, pics, cols, zoom)
	if err != nil {
		return err
	}
	text := ImagesText(title, pics, cols)
	if InNotebook() {
		Display(h, text)
		return nil
	}
	fmt.Print(text)
	return nil
}

// ShowImage displays one image as a PNG output (MIME image/png, with alt as its text/plain twin) in a
// notebook, and prints alt elsewhere. Like Display it waits until GoNB has taken the output: a cell that
// calls gonbui.DisplayPng as its last step can lose the picture on a busy machine (GoNB closes the pipe
// from the cell when the cell's process ends, whatever it still holds).
func ShowImage(img image.Image, alt string) error {
	if !InNotebook() {
		fmt.Println(alt)
		return nil
	}
	data, err := pngBytes(img)
	if err != nil {
		return err
	}
	show(map[protocol.MIMEType]any{protocol.MIMEImagePNG: data, protocol.MIMETextPlain: alt}, "")
	return nil
}

// pngBytes encodes img as PNG.
func pngBytes(img image.Image) ([]byte, error) {
	if img == nil || img.Bounds().Empty() {
		return nil, fmt.Errorf("kernel: an empty image has no PNG")
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("kernel: encoding a %v image as PNG: %w", img.Bounds(), err)
	}
	return b.Bytes(), nil
}
