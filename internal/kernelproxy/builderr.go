package kernelproxy

import (
	"encoding/json"
	"strings"

	"golang.org/x/net/html"
)

// When a cell does not compile (or imports a package nobody provides), GoNB shows the compiler's lines as
// HTML (a display_data with only text/html: the cell line of each error, its context on hover) and then
// ends the cell with an error message whose value is only `failed to run "…/go build -o …": exit status
// 1`. A batch runner (papermill, nbconvert --execute) reports that error and nothing else, and a text
// front end shows no HTML: the reader learns that the build failed, not why.
//
// buildErrors keeps the text of the last GoNB error display of a cell, and errorValue makes GoNB's
// "failed to run" error carry it: ename "compile error" (go build) or "import error" (go get), evalue
// the first of the compiler's lines, traceback all of them and GoNB's own line last. The HTML display
// stays as it is, for the front ends that show it.

// gonbErrorText is the text of GoNB's HTML rendering of error lines: a line per error, the hover
// context (gonb-err-context) left out, "./main.go:11:1: " locations dropped where GoNB already gives the
// cell's line, and its go.work advice after a "---------------" line dropped (it is about go get
// and workspaces, and misleads when the import path is simply wrong).
func gonbErrorText(h string) []string {
	z := html.NewTokenizer(strings.NewReader(h))
	var lines []string
	var cur strings.Builder
	skip, style := 0, false // skip: depth inside a gonb-err-context div
	flush := func() {
		l := strings.TrimSpace(strings.Join(strings.Fields(cur.String()), " "))
		cur.Reset()
		if l != "" {
			lines = append(lines, l)
		}
	}
	for {
		switch z.Next() {
		case html.ErrorToken:
			flush()
			return tidyErrorLines(lines)
		case html.StartTagToken:
			name, _ := z.TagName()
			cls := ""
			for more := true; more; {
				var k, v []byte
				k, v, more = z.TagAttr()
				if string(k) == "class" {
					cls = string(v)
				}
			}
			switch {
			case skip > 0 && string(name) == "div":
				skip++
			case string(name) == "div" && cls == "gonb-err-context":
				skip = 1
			case string(name) == "div":
				flush()
			case string(name) == "style":
				style = true
			case string(name) == "span" && cls == "gonb-err-location" && skip == 0:
				cur.WriteString("\x00") // the location follows, up to the span's end
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch {
			case skip > 0 && string(name) == "div":
				skip--
			case string(name) == "div":
				flush()
			case string(name) == "style":
				style = false
			case string(name) == "span" && skip == 0 && strings.Contains(cur.String(), "\x00"):
				// GoNB's "Cell[2]: Line 2" is there: drop "./main.go:11:1: ".
				s := cur.String()
				cur.Reset()
				if before := strings.TrimRight(s[:strings.Index(s, "\x00")], " "); before != "" {
					cur.WriteString(before + ": ")
				} else { // no cell line: keep the file's
					cur.WriteString(strings.Replace(s, "\x00", "", 1))
				}
			}
		case html.TextToken:
			if skip == 0 && !style {
				cur.Write(z.Text())
			}
		}
	}
}

// tidyErrorLines drops GoNB's package header ("# gonb_1a2b3c4d"), the "failed to run" line (the error
// message carries it), and everything from a "---------------" line on (GoNB's advice about go.work).
func tidyErrorLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "---------------") {
			break
		}
		if strings.HasPrefix(l, "# gonb_") || strings.HasPrefix(l, "failed to run ") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// buildErrorMessage returns the error message m (GoNB's end of a cell) carrying the compiler's lines, or
// nil when m is not GoNB's "failed to run" error of a build or a go get.
func (f *folder) buildErrorMessage(m *message, lines []string) *message {
	var c struct {
		Ename     string   `json:"ename"`
		Evalue    string   `json:"evalue"`
		Traceback []string `json:"traceback"`
	}
	if len(lines) == 0 || json.Unmarshal(m.content, &c) != nil || !strings.HasPrefix(c.Evalue, `failed to run "`) {
		return nil
	}
	ename := ""
	switch {
	case strings.Contains(c.Evalue, " build "):
		ename = "compile error"
	case strings.Contains(c.Evalue, " get"):
		ename = "import error"
	default:
		return nil
	}
	out, err := f.s.rewrite(m, map[string]any{"ename": ename, "evalue": lines[0], "traceback": append(append([]string(nil), lines...), c.Evalue)})
	if err != nil {
		return nil
	}
	return out
}
