// Package kernel is what notebook cells use to show things: tensors as tables, the device table, and
// the backend in use. Each helper renders HTML inside a GoNB notebook and plain text anywhere else (a
// test, the CLI, a batch job), so the same cell code works in both.
//
// GoNB runs every cell as a new Go program: nothing a cell computes survives to the next cell. These
// helpers therefore print everything a reader needs to see in the cell's own output.
package kernel

import (
	"fmt"
	"html"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/janpfeifer/gonb/gonbui"
)

// InNotebook reports whether this program runs as a GoNB notebook cell.
func InNotebook() bool { return gonbui.IsNotebook }

// TensorOptions control how a tensor is rendered.
type TensorOptions struct {
	// Name is shown in the caption, e.g. "x".
	Name string

	// MaxElements is the largest tensor shown whole; bigger ones show only Edge items at each end of
	// every axis, with "…" between. Default 200.
	MaxElements int

	// Edge is how many items are kept at each end of an elided axis. Default 3.
	Edge int

	// Digits is the number of significant digits for floating-point values. Default 5.
	Digits int
}

func (o TensorOptions) withDefaults() TensorOptions {
	if o.MaxElements <= 0 {
		o.MaxElements = 200
	}
	if o.Edge <= 0 {
		o.Edge = 3
	}
	if o.Digits <= 0 {
		o.Digits = 5
	}
	return o
}

// ShowTensor displays t: an HTML table in a notebook, text on standard output elsewhere. The name is
// shown in the caption; pass "" for none.
func ShowTensor(name string, t *tensors.Tensor) {
	o := TensorOptions{Name: name}
	if InNotebook() {
		DisplayHTML(TensorHTML(t, o))
		return
	}
	fmt.Print(TensorText(t, o))
}

// Placement describes where a tensor's data lives: "host" for a Go-memory copy only, "<backend>:<n>" for
// device n of a backend, or both ("host + go:0"). GoMLX keeps a tensor in either or both places and
// copies lazily; this is what `.device` is to a PyTorch tensor.
func Placement(t *tensors.Tensor) string {
	if t == nil || !t.Ok() {
		return "finalized"
	}
	var parts []string
	if t.IsLocal() {
		parts = append(parts, "host")
	}
	if t.IsOnAnyDevice() {
		where := "device"
		if b, err := t.Backend(); err == nil && b != nil {
			where = b.String()
		}
		if d, err := t.Device(); err == nil {
			where = fmt.Sprintf("%s:%d", where, d)
		}
		parts = append(parts, where)
	}
	if len(parts) == 0 {
		return "finalized"
	}
	return strings.Join(parts, " + ")
}

// Caption is the one-line summary shown above a tensor's values, e.g. "x: float32[2,3] on host".
func Caption(name string, t *tensors.Tensor) string {
	dims := make([]string, t.Rank())
	for i, d := range t.Shape().Dimensions {
		dims[i] = strconv.Itoa(d)
	}
	s := fmt.Sprintf("%s[%s] on %s", strings.ToLower(t.DType().String()), strings.Join(dims, ","), Placement(t))
	if name != "" {
		s = name + ": " + s
	}
	return s
}

// grid is a tensor's values laid out for display: a list of 2-D blocks, each with a label (the leading
// indices, e.g. "[0, 1, :, :]"), rows of cells, and whether rows/columns were elided.
type grid struct {
	blocks []block
}

type block struct {
	label string // "" for rank ≤ 2
	rows  [][]string
}

const ellipsis = "…"

// keep returns the indices of an axis of size n to show: all, or edge at each end with -1 for "…".
func keep(n, edge int, elide bool) []int {
	if !elide || n <= 2*edge+1 {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	idx := make([]int, 0, 2*edge+1)
	for i := 0; i < edge; i++ {
		idx = append(idx, i)
	}
	idx = append(idx, -1)
	for i := n - edge; i < n; i++ {
		idx = append(idx, i)
	}
	return idx
}

// layout formats t's values into blocks of at most 2 dimensions.
func layout(t *tensors.Tensor, o TensorOptions) (grid, error) {
	var g grid
	var flat reflect.Value
	if err := t.ConstFlatData(func(f any) { flat = reflect.ValueOf(f) }); err != nil {
		return g, err
	}
	dims := t.Shape().Dimensions
	elide := t.Size() > o.MaxElements
	strides := make([]int, len(dims))
	s := 1
	for i := len(dims) - 1; i >= 0; i-- {
		strides[i] = s
		s *= dims[i]
	}
	format := func(i int) string { return formatValue(flat.Index(i), t.DType(), o.Digits) }
	switch len(dims) {
	case 0:
		g.blocks = []block{{rows: [][]string{{format(0)}}}}
		return g, nil
	case 1:
		var row []string
		for _, j := range keep(dims[0], o.Edge, elide) {
			if j < 0 {
				row = append(row, ellipsis)
			} else {
				row = append(row, format(j))
			}
		}
		g.blocks = []block{{rows: [][]string{row}}}
		return g, nil
	}
	// Leading axes: iterate over kept index combinations.
	lead := dims[:len(dims)-2]
	rowsN, colsN := dims[len(dims)-2], dims[len(dims)-1]
	leadKeep := make([][]int, len(lead))
	for i, n := range lead {
		leadKeep[i] = keep(n, max(1, o.Edge-1), elide)
	}
	var walk func(axis, offset int, prefix []string)
	walk = func(axis, offset int, prefix []string) {
		if axis == len(lead) {
			b := block{}
			if len(lead) > 0 {
				b.label = "[" + strings.Join(append(append([]string{}, prefix...), ":", ":"), ", ") + "]"
			}
			for _, r := range keep(rowsN, o.Edge, elide) {
				var row []string
				for _, c := range keep(colsN, o.Edge, elide) {
					switch {
					case r < 0 && c < 0:
						row = append(row, "⋱")
					case r < 0:
						row = append(row, "⋮")
					case c < 0:
						row = append(row, ellipsis)
					default:
						row = append(row, format(offset+r*strides[len(dims)-2]+c))
					}
				}
				b.rows = append(b.rows, row)
			}
			g.blocks = append(g.blocks, b)
			return
		}
		for _, i := range leadKeep[axis] {
			if i < 0 {
				g.blocks = append(g.blocks, block{label: "⋮"})
				continue
			}
			walk(axis+1, offset+i*strides[axis], append(prefix, strconv.Itoa(i)))
		}
	}
	walk(0, 0, nil)
	return g, nil
}

// formatValue prints one element: floats with the given significant digits (NaN and ±Inf spelled out),
// everything else as Go prints it.
func formatValue(v reflect.Value, dt dtypes.DType, digits int) string {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		switch {
		case math.IsNaN(f):
			return "NaN"
		case math.IsInf(f, 1):
			return "+Inf"
		case math.IsInf(f, -1):
			return "-Inf"
		}
		bits := 64
		if v.Kind() == reflect.Float32 {
			bits = 32
		}
		return strconv.FormatFloat(f, 'g', digits, bits)
	case reflect.Complex64, reflect.Complex128:
		return strconv.FormatComplex(v.Complex(), 'g', digits, 128)
	}
	if s, ok := v.Interface().(fmt.Stringer); ok {
		if f, err := strconv.ParseFloat(s.String(), 64); err == nil && dt.IsFloat() {
			return strconv.FormatFloat(f, 'g', digits, 32)
		}
		return s.String()
	}
	return fmt.Sprint(v.Interface())
}

// TensorText renders t as text: a caption line and aligned columns, one block per 2-D slice.
func TensorText(t *tensors.Tensor, o TensorOptions) string {
	o = o.withDefaults()
	var b strings.Builder
	b.WriteString(Caption(o.Name, t))
	g, err := layout(t, o)
	if err != nil {
		fmt.Fprintf(&b, " (values unavailable: %v)\n", err)
		return b.String()
	}
	if t.Size() > o.MaxElements {
		fmt.Fprintf(&b, " (%d values; showing %d at each end)", t.Size(), o.Edge)
	}
	b.WriteString("\n")
	for _, blk := range g.blocks {
		if blk.label != "" {
			b.WriteString(blk.label + "\n")
		}
		widths := map[int]int{}
		for _, r := range blk.rows {
			for j, c := range r {
				widths[j] = max(widths[j], len([]rune(c)))
			}
		}
		for _, r := range blk.rows {
			b.WriteString("  ")
			for j, c := range r {
				if j > 0 {
					b.WriteString("  ")
				}
				b.WriteString(strings.Repeat(" ", widths[j]-len([]rune(c))) + c)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// tableStyle is shared by every table this package renders, so they look alike.
const tableStyle = `border-collapse:collapse;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;margin:2px 0 8px 0`

// TensorHTML renders t as an HTML table with a caption of its shape, dtype and placement.
func TensorHTML(t *tensors.Tensor, o TensorOptions) string {
	o = o.withDefaults()
	var b strings.Builder
	b.WriteString(`<div class="gonbgpu-tensor">`)
	cap := Caption(o.Name, t)
	if t.Size() > o.MaxElements {
		cap += fmt.Sprintf(" — %d values, %d shown at each end of every axis", t.Size(), o.Edge)
	}
	fmt.Fprintf(&b, `<div style="font-family:monospace;font-weight:bold;margin:4px 0">%s</div>`, html.EscapeString(cap))
	g, err := layout(t, o)
	if err != nil {
		fmt.Fprintf(&b, "<div>values unavailable: %s</div></div>", html.EscapeString(err.Error()))
		return b.String()
	}
	for _, blk := range g.blocks {
		if blk.label != "" {
			fmt.Fprintf(&b, `<div style="font-family:monospace;color:#666">%s</div>`, html.EscapeString(blk.label))
		}
		if len(blk.rows) == 0 {
			continue
		}
		fmt.Fprintf(&b, `<table style="%s">`, tableStyle)
		for _, r := range blk.rows {
			b.WriteString("<tr>")
			for _, c := range r {
				fmt.Fprintf(&b, `<td style="border:1px solid #ccc;padding:2px 6px;text-align:right">%s</td>`, html.EscapeString(c))
			}
			b.WriteString("</tr>")
		}
		b.WriteString("</table>")
	}
	b.WriteString("</div>")
	return b.String()
}
