package kernelproxy

import (
	"bytes"
	"encoding/json"
	"strings"
)

// A Go program that panics writes the panic to its standard error and exits with status 2; GoNB
// forwards that stderr as it comes, in pieces ("panic: ", "boom", "\n", "goroutine 1 [running]:" …),
// then adds its rendering of the error lines (an HTML display_data), then an error message whose value
// is only "exit status 2". A front end shows all of them, and a client that counts outputs (Jupyter's
// conformance suite, a batch runner reading the notebook) sees a handful where there is one error.
//
// folder turns that into one error message, per execute_request: from the line of the cell's stderr
// that starts with "panic: " or "fatal error: " on, stderr is held back; when the error message comes,
// it is replaced by one whose ename is "panic" (or "fatal error"), whose evalue is the panic's message,
// and whose traceback is the held text line by line (GoNB's cell-line annotations and "exit status 2"
// included), and GoNB's HTML rendering of the same lines is dropped. Stderr before the panic, stdout,
// and every other output pass unchanged. If no error message comes (a program that printed such a line
// and went on), the held text is sent as the stderr it was when the cell ends (at its "idle"), in
// order; so is anything held beyond maxHeld bytes.
type folder struct {
	s     signer
	cells map[string]*foldState // by execute_request msg_id
}

// maxHeld bounds the stderr held for one panic (a GOTRACEBACK=all dump of many goroutines).
const maxHeld = 4 << 20

var panicMarkers = []struct{ prefix, ename string }{{"panic: ", "panic"}, {"fatal error: ", "fatal error"}}

type foldState struct {
	bol      bool     // the cell's stderr so far ends at a line's start
	pend     string   // stderr at a line's start that may still become a marker ("pan")
	template *message // the last stderr message, for the ones made from pend
	ename    string   // set while a panic's text is held
	held     strings.Builder
	heldMsgs []*message // the stderr messages held, as they came (sent as they were if no error comes)
	off      bool       // folding given up for this cell (held too much)
	buildErr []string   // the lines of GoNB's last error display in this cell (see builderr.go)
}

func newFolder(s signer) *folder { return &folder{s: s, cells: map[string]*foldState{}} }

type streamContent struct {
	Name string `json:"name"`
	Text string `json:"text"`
}

// process takes one iopub message from GoNB and returns what to publish instead, in order.
func (f *folder) process(m *message) []*message {
	if m.parentTyp != "execute_request" || m.parentID == "" {
		return []*message{m}
	}
	st := f.cells[m.parentID]
	switch m.msgType {
	case "status":
		var c struct {
			State string `json:"execution_state"`
		}
		_ = json.Unmarshal(m.content, &c)
		if c.State == "busy" && st == nil {
			f.cells[m.parentID] = &foldState{bol: true}
			return []*message{m}
		}
		if c.State != "idle" || st == nil {
			return []*message{m}
		}
		delete(f.cells, m.parentID)
		return append(f.release(st), m)
	case "stream":
		var c streamContent
		if st == nil || st.off || json.Unmarshal(m.content, &c) != nil || c.Name != "stderr" {
			break
		}
		return f.stderr(st, m, c.Text)
	case "display_data":
		if st == nil {
			break
		}
		if h, ok := gonbErrorHTML(m); ok {
			if st.ename != "" {
				return nil // GoNB's HTML of the panic's lines: the folded traceback has them
			}
			st.buildErr = gonbErrorText(h)
		}
	case "error":
		if st != nil && st.ename != "" {
			return []*message{f.folded(st, m)}
		}
		if st != nil && st.buildErr != nil {
			if out := f.buildErrorMessage(m, st.buildErr); out != nil {
				return append(f.flushPend(st), out)
			}
		}
	}
	if st == nil {
		return []*message{m}
	}
	// Anything else keeps its place after the stderr that came before it.
	return append(f.flushPend(st), m)
}

// stderr handles a piece of the cell's standard error.
func (f *folder) stderr(st *foldState, m *message, text string) []*message {
	st.template = m
	if st.ename != "" {
		st.held.WriteString(text)
		st.heldMsgs = append(st.heldMsgs, m)
		if st.held.Len() > maxHeld {
			st.off = true
			return f.release(st)
		}
		return nil
	}
	s := st.pend + text
	startsLine := st.bol || st.pend != ""
	st.pend = ""
	var out []*message
	for i := 0; i <= len(s); {
		if i > 0 || startsLine {
			rest := s[i:]
			for _, mk := range panicMarkers {
				if strings.HasPrefix(rest, mk.prefix) {
					out = append(out, f.stream(m, s[:i], text)...)
					st.ename = mk.ename
					st.held.WriteString(rest)
					st.heldMsgs = append(st.heldMsgs, f.stream(m, rest, text)...)
					return out
				}
				if rest != "" && !strings.Contains(rest, "\n") && strings.HasPrefix(mk.prefix, rest) {
					out = append(out, f.stream(m, s[:i], text)...)
					st.pend = rest
					st.bol = true
					return out
				}
			}
		}
		j := strings.IndexByte(s[i:], '\n')
		if j < 0 {
			break
		}
		i += j + 1
	}
	st.bol = strings.HasSuffix(s, "\n")
	return f.stream(m, s, text)
}

// stream returns m itself if text is what it carried, else a copy of it carrying text (none for "").
func (f *folder) stream(m *message, text, orig string) []*message {
	if text == "" {
		return nil
	}
	if text == orig {
		return []*message{m}
	}
	out, err := f.s.rewrite(m, streamContent{Name: "stderr", Text: text})
	if err != nil {
		return nil
	}
	return []*message{out}
}

// flushPend sends the start of a line that did not become a panic.
func (f *folder) flushPend(st *foldState) []*message {
	if st.pend == "" || st.template == nil {
		return nil
	}
	p := st.pend
	st.pend = ""
	return f.stream(st.template, p, "\x00")
}

// release sends whatever is held, as the stderr it was.
func (f *folder) release(st *foldState) []*message {
	out := f.flushPend(st)
	out = append(out, st.heldMsgs...)
	st.heldMsgs, st.ename = nil, ""
	st.held.Reset()
	return out
}

// folded replaces GoNB's error message by one that carries the panic.
func (f *folder) folded(st *foldState, m *message) *message {
	text := strings.TrimRight(st.held.String(), "\n")
	first, _, _ := strings.Cut(text, "\n")
	for _, mk := range panicMarkers {
		first = strings.TrimPrefix(first, mk.prefix)
	}
	ename := st.ename
	st.heldMsgs, st.ename = nil, ""
	st.held.Reset()
	out, err := f.s.rewrite(m, map[string]any{"ename": ename, "evalue": first, "traceback": strings.Split(text, "\n")})
	if err != nil {
		return m
	}
	return out
}

// gonbErrorHTML returns the HTML of m when it is GoNB's rendering of a failed program's error lines
// (goexec.State.DisplayErrorLines: its CSS classes are gonb-err-…). The bytes are looked at first: a
// training cell's progress redraws its output many times a second, and none of those needs decoding.
func gonbErrorHTML(m *message) (string, bool) {
	if !bytes.Contains(m.content, []byte("gonb-err-")) {
		return "", false
	}
	var c struct {
		Data map[string]any `json:"data"`
	}
	if json.Unmarshal(m.content, &c) != nil {
		return "", false
	}
	h, _ := c.Data["text/html"].(string)
	return h, strings.Contains(h, "gonb-err-")
}
