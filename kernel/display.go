package kernel

import (
	"strings"

	"github.com/gonbgpu/gonbgpu/internal/ipynb"
	"github.com/gonbgpu/gonbgpu/internal/stdoutpipe"
	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/protocol"
)

// Display shows rich HTML in the cell's output together with a text/plain version of the same content,
// which Jupyter keeps beside it in the saved notebook: viewers that do not render HTML (a terminal,
// nbconvert --to markdown, a screen reader) show the text. It waits until GoNB has taken the output: a
// cell program often ends right after displaying its result, and on a busy machine GoNB could otherwise
// lose what was still in the pipe between them (gonbui.Sync is GoNB's remedy).
func Display(html, text string) {
	show(mimeData(html, text), "")
}

// show sends one output (under display id, if not empty) and waits until GoNB has taken it: every
// display function of this package and of kernel/plot ends here. It first waits (100 ms at most) until
// GoNB has read what the program printed, which it forwards apart: else a display could land above
// text printed before it.
func show(data map[protocol.MIMEType]any, id string) {
	if !gonbui.IsNotebook {
		return
	}
	stdoutpipe.Stdout()
	gonbui.SendData(&protocol.DisplayData{Data: data, DisplayID: id})
	gonbui.Sync()
}

// Update replaces the output with the given display id by html (and its text twin), creating it the
// first time: a figure or a table redrawn in place while a computation runs. The id must be unique in
// the notebook; make one with NewDisplayID. The last update is what the saved notebook keeps.
func Update(id, html, text string) {
	show(mimeData(html, text), id)
}

// NewDisplayID returns a display id for Update, unique in this notebook.
func NewDisplayID(prefix string) string { return prefix + "-" + gonbui.UniqueId() }

func mimeData(html, text string) map[protocol.MIMEType]any {
	return map[protocol.MIMEType]any{protocol.MIMETextHTML: html, protocol.MIMETextPlain: text}
}

// breaks puts table cells apart and rows and blocks on their own lines before the tags go.
var breaks = strings.NewReplacer("</td>", "  ", "</th>", "  ", "</tr>", "\n", "<br>", "\n", "</div>", "\n",
	"</table>", "\n", "</figcaption>", "\n", "</p>", "\n", "</li>", "\n")

// TextTwin is the text/plain version of an HTML output: its text, with table cells two spaces apart and
// each row, block or caption on its own line (removing the tags alone would run a table's numbers
// together).
func TextTwin(h string) string {
	var lines []string
	for _, l := range strings.Split(ipynb.HTMLText(breaks.Replace(h)), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
