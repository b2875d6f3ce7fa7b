// Package ipynb reads Jupyter notebooks (.ipynb, nbformat 4): enough of the format to find a notebook's
// cells and the outputs an execution left in them, so that tests and `gonbgpu notebooks` can check what
// a run printed, displayed, or failed with.
//
// Notebook files come from users and from other tools, so parsing is strict about structure and tolerant
// about the two spellings nbformat allows for text (a string, or a list of strings).
package ipynb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"strings"
)

// MaxSize is the largest notebook accepted, a guard against reading a huge or hostile file whole.
const MaxSize = 256 << 20

// Notebook is a parsed .ipynb file.
type Notebook struct {
	Cells         []Cell         `json:"cells"`
	Metadata      map[string]any `json:"metadata"`
	NBFormat      int            `json:"nbformat"`
	NBFormatMinor int            `json:"nbformat_minor"`
}

// Cell is one notebook cell.
type Cell struct {
	CellType string   `json:"cell_type"`
	Source   Text     `json:"source"`
	Outputs  []Output `json:"outputs,omitempty"`
}

// Output is one output of a code cell: a stream ("stdout"/"stderr"), rich display data, an execution
// result, or an error.
type Output struct {
	OutputType string          `json:"output_type"`
	Name       string          `json:"name,omitempty"`
	Text       Text            `json:"text,omitempty"`
	Data       map[string]Text `json:"data,omitempty"`
	EName      string          `json:"ename,omitempty"`
	EValue     string          `json:"evalue,omitempty"`
	Traceback  []string        `json:"traceback,omitempty"`
}

// Text is a multi-line string as nbformat stores it: either one string or a list of lines.
type Text string

// UnmarshalJSON accepts a string, a list of strings, or (for non-text MIME data such as JSON) any other
// value, kept as its JSON encoding.
func (t *Text) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*t = Text(s)
		return nil
	}
	var lines []string
	if err := json.Unmarshal(b, &lines); err == nil {
		*t = Text(strings.Join(lines, ""))
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*t = Text(b)
	return nil
}

// Parse decodes a notebook; name (usually the file path) is used in error messages.
func Parse(name string, data []byte) (*Notebook, error) {
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s: notebook is %d bytes, more than the %d accepted", name, len(data), MaxSize)
	}
	var nb Notebook
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&nb); err != nil {
		return nil, fmt.Errorf("%s: not a notebook (invalid JSON): %w", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: not a notebook: extra data after the JSON object", name)
	}
	if nb.NBFormat != 4 {
		return nil, fmt.Errorf("%s: nbformat %d is not supported (want 4)", name, nb.NBFormat)
	}
	for i, c := range nb.Cells {
		switch c.CellType {
		case "code", "markdown", "raw":
		default:
			return nil, fmt.Errorf("%s: cell %d has unknown cell_type %q", name, i, c.CellType)
		}
		for j, o := range c.Outputs {
			switch o.OutputType {
			case "stream", "display_data", "execute_result", "error", "update_display_data":
			default:
				return nil, fmt.Errorf("%s: cell %d output %d has unknown output_type %q", name, i, j, o.OutputType)
			}
		}
	}
	return &nb, nil
}

// Read reads and parses a notebook file.
func Read(path string) (*Notebook, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxSize {
		return nil, fmt.Errorf("%s: notebook is %d bytes, more than the %d accepted", path, fi.Size(), MaxSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// CellError is an error a cell produced: an error output, or text on standard error.
type CellError struct {
	Cell    int    // index of the cell
	Source  string // first line of the cell's source
	Message string
}

func (e CellError) Error() string {
	return fmt.Sprintf("cell %d (%s): %s", e.Cell, e.Source, e.Message)
}

// Errors lists every error output and every standard-error stream in the notebook's code cells.
func (nb *Notebook) Errors() []CellError {
	var errs []CellError
	for i, c := range nb.Cells {
		first, _, _ := strings.Cut(strings.TrimSpace(string(c.Source)), "\n")
		for _, o := range c.Outputs {
			switch {
			case o.OutputType == "error":
				msg := o.EName + ": " + o.EValue
				if len(o.Traceback) > 0 {
					msg += "\n" + stripANSI(strings.Join(o.Traceback, "\n"))
				}
				// GoNB shows compiler errors as HTML in the same cell, before the error itself.
				for _, d := range c.Outputs {
					if h, ok := d.Data["text/html"]; ok && strings.Contains(string(h), "application/vnd.jupyter.stderr") {
						msg += "\n" + strings.TrimSpace(HTMLText(string(h)))
					}
				}
				errs = append(errs, CellError{i, first, msg})
			case o.OutputType == "stream" && o.Name == "stderr":
				errs = append(errs, CellError{i, first, "stderr: " + string(o.Text)})
			}
		}
	}
	return errs
}

// AllText returns everything the notebook's code cells printed or displayed as text: stdout streams,
// text/plain and text/html data (HTML tags kept), joined with newlines. Tests search it for key facts.
func (nb *Notebook) AllText() string {
	var b strings.Builder
	for _, c := range nb.Cells {
		b.WriteString(c.OutputText())
	}
	return b.String()
}

// OutputText returns the text a cell printed or displayed (stdout, text/plain, text/html, text/markdown).
func (c Cell) OutputText() string {
	var b strings.Builder
	for _, o := range c.Outputs {
		if o.OutputType == "stream" && o.Name == "stdout" {
			b.WriteString(string(o.Text))
			b.WriteString("\n")
		}
		for _, mime := range []string{"text/plain", "text/html", "text/markdown"} {
			if v, ok := o.Data[mime]; ok {
				b.WriteString(string(v))
				b.WriteString("\n")
			}
		}
	}
	return b.String()
}

// CountMIME counts the outputs that carry data of the given MIME type (e.g. "image/svg+xml").
func (nb *Notebook) CountMIME(mime string) int {
	n := 0
	for _, c := range nb.Cells {
		for _, o := range c.Outputs {
			if _, ok := o.Data[mime]; ok {
				n++
			}
		}
	}
	return n
}

// CodeCells returns the number of code cells.
func (nb *Notebook) CodeCells() int {
	n := 0
	for _, c := range nb.Cells {
		if c.CellType == "code" {
			n++
		}
	}
	return n
}

// HTMLText returns the text of an HTML fragment: tags, <style> and <script> blocks removed, entities
// decoded, runs of blank lines collapsed. It is how notebook outputs read as plain text.
func HTMLText(h string) string {
	for _, tag := range []string{"style", "script"} {
		for {
			i := strings.Index(h, "<"+tag)
			if i < 0 {
				break
			}
			j := strings.Index(h[i:], "</"+tag+">")
			if j < 0 {
				h = h[:i]
				break
			}
			h = h[:i] + h[i+j+len(tag)+3:]
		}
	}
	var b strings.Builder
	in := false
	for _, r := range h {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
		case !in:
			b.WriteRune(r)
		}
	}
	var lines []string
	for _, l := range strings.Split(html.UnescapeString(b.String()), "\n") {
		if l = strings.TrimRight(l, " \t"); strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// stripANSI removes terminal colour codes, which tracebacks often carry.
func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && !(s[j] >= '@' && s[j] <= '~') {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
