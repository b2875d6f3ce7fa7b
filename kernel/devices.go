package kernel

import (
	"fmt"
	"html"
	"strings"

	"github.com/gonbgpu/gonbgpu/gpu/platform"
	"github.com/gonbgpu/gonbgpu/internal/ipynb"
	"github.com/janpfeifer/gonb/gonbui/protocol"
)

// DevicesHTML renders the device table as HTML under a title line.
func DevicesHTML(title string, devs []platform.Device) string {
	var b strings.Builder
	b.WriteString(`<div class="gonbgpu-devices">`)
	fmt.Fprintf(&b, `<div style="font-family:monospace;font-weight:bold;margin:4px 0">%s</div>`, html.EscapeString(title))
	fmt.Fprintf(&b, `<table style="%s">`, tableStyle)
	row := func(tag string, r platform.Row) {
		b.WriteString("<tr>")
		for _, c := range r.Cells() {
			fmt.Fprintf(&b, `<%s style="border:1px solid #ccc;padding:2px 8px;text-align:left">%s</%s>`, tag, html.EscapeString(c), tag)
		}
		b.WriteString("</tr>")
	}
	row("th", platform.Header)
	for _, r := range platform.Rows(devs) {
		row("td", r)
	}
	b.WriteString("</table></div>")
	return b.String()
}

// ShowError displays an error readably: a red box in a notebook, a line on standard output elsewhere.
func ShowError(err error) {
	if InNotebook() {
		DisplayHTML(fmt.Sprintf(`<div style="border-left:4px solid #c00;padding:4px 8px;background:#fff0f0;font-family:monospace;white-space:pre-wrap">%s</div>`,
			html.EscapeString(err.Error())))
		return
	}
	fmt.Println("error:", err)
}

// DisplayHTML shows HTML in the cell's output, with its text (tags removed) as the text/plain twin that
// text-only viewers show, and waits until GoNB has taken it (see Display).
func DisplayHTML(h string) {
	Display(h, TextTwin(h))
}

// ShowHTML displays raw HTML in a notebook, or its text (tags removed) elsewhere.
func ShowHTML(h string) {
	if InNotebook() {
		DisplayHTML(h)
		return
	}
	fmt.Println(ipynb.HTMLText(h))
}

// ShowMarkdown displays Markdown in a notebook (with the Markdown itself as the text/plain twin), or
// prints it as is elsewhere.
func ShowMarkdown(md string) {
	if InNotebook() {
		show(map[protocol.MIMEType]any{protocol.MIMETextMarkdown: md, protocol.MIMETextPlain: md}, "")
		return
	}
	fmt.Println(md)
}

// ShowCode displays Go source as a highlighted code block in a notebook, or prints it elsewhere: a
// chapter showing the library code a cell calls.
func ShowCode(src string) {
	ShowMarkdown("```go\n" + strings.TrimRight(src, "\n") + "\n```")
}
