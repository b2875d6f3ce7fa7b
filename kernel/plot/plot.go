// Package plot draws the course's figures — training curves, gradient norms on a log scale, timings
// against sizes, speedups against devices — with gonum/plot, as static SVG.
//
// Static SVG, rather than a JavaScript plotting library, because the figure must survive everywhere the
// notebook goes: in the saved .ipynb, in its HTML export, on GitHub, and on compute nodes and browsers
// with no access to a CDN. In a notebook cell [Figure.Show] displays it; elsewhere it saves a file.
package plot

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gonbgpu/gonbgpu/kernel"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Series is one line (or set of bars) of a figure.
type Series struct {
	Name string
	X, Y []float64
	// Dashed draws the line dashed (e.g. the test curve beside the training one).
	Dashed bool
	// Points marks each point.
	Points bool
}

// Figure is a 2-D chart under construction.
type Figure struct {
	Title, XLabel, YLabel string
	// LogY draws the Y axis on a log scale (values ≤ 0 are dropped from the plot).
	LogY bool
	// LogX draws the X axis on a log scale.
	LogX bool
	// Bars draws the series as grouped bars at X (instead of lines).
	Bars bool
	// Width and Height in centimetres (default 16×9).
	Width, Height float64
	Series        []Series
}

// New starts a figure with a title and axis labels.
func New(title, xlabel, ylabel string) *Figure {
	return &Figure{Title: title, XLabel: xlabel, YLabel: ylabel}
}

// Line adds a line.
func (f *Figure) Line(name string, x, y []float64) *Figure {
	f.Series = append(f.Series, Series{Name: name, X: x, Y: y})
	return f
}

// Add adds a series with its options.
func (f *Figure) Add(s Series) *Figure {
	f.Series = append(f.Series, s)
	return f
}

// Palette is the colour cycle: Go's cyan first, then colours that stay apart for colour-blind readers.
var Palette = []color.Color{
	color.RGBA{0x00, 0x7d, 0x9c, 0xff}, color.RGBA{0xd5, 0x5e, 0x00, 0xff}, color.RGBA{0x00, 0x9e, 0x73, 0xff},
	color.RGBA{0xcc, 0x79, 0xa7, 0xff}, color.RGBA{0x56, 0xb4, 0xe9, 0xff}, color.RGBA{0xe6, 0x9f, 0x00, 0xff},
	color.RGBA{0x33, 0x33, 0x33, 0xff},
}

func init() {
	// Sans-serif text, like the notebook around the figure.
	plot.DefaultFont = font.Font{Typeface: "Liberation", Variant: "Sans"}
	plotter.DefaultFont = plot.DefaultFont
}

func (f *Figure) build() (*plot.Plot, error) {
	if len(f.Series) == 0 {
		return nil, fmt.Errorf("plot %q has no series", f.Title)
	}
	p := plot.New()
	p.Title.Text = f.Title
	p.X.Label.Text = f.XLabel
	p.Y.Label.Text = f.YLabel
	p.Add(plotter.NewGrid())
	if f.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = powersOfTen{}
	}
	if f.LogX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = powersOfTen{}
	}
	barWidth := vg.Points(14)
	for i, s := range f.Series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("plot %q: series %q has %d x values and %d y values", f.Title, s.Name, len(s.X), len(s.Y))
		}
		pts := make(plotter.XYs, 0, len(s.X))
		for j := range s.X {
			x, y := s.X[j], s.Y[j]
			if math.IsNaN(x) || math.IsNaN(y) || math.IsInf(y, 0) || (f.LogY && y <= 0) || (f.LogX && x <= 0) {
				continue
			}
			pts = append(pts, plotter.XY{X: x, Y: y})
		}
		if len(pts) == 0 {
			continue
		}
		c := Palette[i%len(Palette)]
		if f.Bars {
			vals := make(plotter.Values, len(pts))
			for j, pt := range pts {
				vals[j] = pt.Y
			}
			bars, err := plotter.NewBarChart(vals, barWidth)
			if err != nil {
				return nil, err
			}
			bars.Color = c
			bars.LineStyle.Width = 0
			bars.Offset = vg.Length(float64(i)-float64(len(f.Series)-1)/2) * barWidth
			p.Add(bars)
			p.Legend.Add(s.Name, bars)
			continue
		}
		line, err := plotter.NewLine(pts)
		if err != nil {
			return nil, err
		}
		line.Color = c
		line.Width = vg.Points(1.8)
		if s.Dashed {
			line.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(line)
		if s.Points || len(pts) <= 12 {
			sc, err := plotter.NewScatter(pts)
			if err == nil {
				sc.Color = c
				sc.Shape = draw.CircleGlyph{}
				sc.Radius = vg.Points(2.5)
				p.Add(sc)
			}
		}
		if s.Name != "" {
			p.Legend.Add(s.Name, line)
		}
	}
	if f.Bars && len(f.Series) > 0 {
		names := make([]string, len(f.Series[0].X))
		for j, x := range f.Series[0].X {
			names[j] = trimFloat(x)
		}
		p.NominalX(names...)
	}
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.YOffs = -vg.Points(6) // clear of the title
	// Leave room above the data for the legend, which sits in the top right corner.
	if len(f.Series) > 1 && !f.Bars {
		if f.LogY && p.Y.Min > 0 {
			p.Y.Max *= math.Pow(p.Y.Max/p.Y.Min, 0.25)
		} else {
			p.Y.Max += 0.25 * (p.Y.Max - p.Y.Min)
		}
	}
	return p, nil
}

// powersOfTen marks a log axis at each power of ten, labelled 1e-06 … 1 … 1e+03 (gonum's own log ticks
// print floating-point noise such as 9.999999999999999e-06).
type powersOfTen struct{}

func (powersOfTen) Ticks(min, max float64) []plot.Tick {
	if min <= 0 || max <= 0 || min > max {
		return nil
	}
	lo, hi := int(math.Floor(math.Log10(min))), int(math.Ceil(math.Log10(max)))
	step := 1
	for (hi-lo)/step > 8 {
		step++
	}
	var ticks []plot.Tick
	for e := lo; e <= hi; e++ {
		v := math.Pow(10, float64(e))
		label := ""
		if (e-lo)%step == 0 {
			switch {
			case e == 0:
				label = "1"
			case e >= -3 && e <= 3:
				label = strconv.FormatFloat(v, 'f', -1, 64)
			default:
				label = fmt.Sprintf("1e%+03d", e)
			}
		}
		ticks = append(ticks, plot.Tick{Value: v, Label: label})
	}
	return ticks
}

func trimFloat(x float64) string {
	s := fmt.Sprintf("%.3g", x)
	return strings.TrimSuffix(s, ".0")
}

func (f *Figure) size() (vg.Length, vg.Length) {
	w, h := f.Width, f.Height
	if w <= 0 {
		w = 16
	}
	if h <= 0 {
		h = 9
	}
	return vg.Length(w) * vg.Centimeter, vg.Length(h) * vg.Centimeter
}

// Render returns the figure encoded in a format: "svg", "png" or "pdf".
func (f *Figure) Render(format string) ([]byte, error) {
	p, err := f.build()
	if err != nil {
		return nil, err
	}
	w, h := f.size()
	wt, err := p.WriterTo(w, h, format)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// SVG returns the figure as SVG.
func (f *Figure) SVG() ([]byte, error) { return f.Render("svg") }

// Save writes the figure to a file; the format follows the extension (.svg, .png, .pdf).
func (f *Figure) Save(path string) error {
	ext := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	data, err := f.Render(ext)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// Show displays the figure in a notebook cell. Outside a notebook it saves it as an SVG file named after
// the title in the current folder and prints where.
func (f *Figure) Show() error {
	return f.show("")
}

// Update draws the figure into the cell output with display id id, replacing what that output showed
// (creating it the first time): a training curve redrawn after every epoch, one figure rather than one
// per epoch. The last drawing stays in the saved notebook. Outside a notebook it does what Show does.
func (f *Figure) Update(id string) error {
	return f.show(id)
}

func (f *Figure) show(id string) error {
	data, err := f.SVG()
	if err != nil {
		return err
	}
	if kernel.InNotebook() {
		// Inline SVG inside HTML, as GoNB does, because Jupyter's HTML export drops image/svg+xml outputs;
		// the text twin is for viewers that show no HTML.
		html := `<div class="gonbgpu-figure">` + string(data) + `</div>`
		if id == "" {
			kernel.Display(html, f.Text())
		} else {
			kernel.Update(id, html, f.Text())
		}
		return nil
	}
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '-'
	}, f.Title)
	if name == "" {
		name = "figure"
	}
	path := name + ".svg"
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	fmt.Printf("(figure %q saved to %s)\n", f.Title, path)
	return nil
}

// Text describes the figure in words, for viewers that show no images: its title and axes, and per series
// its number of points and its last point.
func (f *Figure) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[figure] %s (x: %s, y: %s)", f.Title, f.XLabel, f.YLabel)
	for _, s := range f.Series {
		fmt.Fprintf(&b, "\n  %s: %d points", s.Name, len(s.X))
		if n := len(s.X); n > 0 && n == len(s.Y) {
			fmt.Fprintf(&b, ", last (%.4g, %.4g)", s.X[n-1], s.Y[n-1])
		}
	}
	return b.String()
}
