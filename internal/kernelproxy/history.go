package kernelproxy

import (
	"regexp"
	"strings"
	"sync"
)

// historySession is the number of the kernel's one history session (IPython numbers sessions from 1; a
// request for session 0 or below means the current one).
const historySession = 1

// history keeps the cells this kernel ran, in the order of their execution counts, to answer
// history_request (GoNB ignores it): tail, range and search, as IPython's kernel answers them. It lasts
// as long as the kernel; nothing is written to disk.
type history struct {
	mu      sync.Mutex
	pending map[string]string // execute_request msg_id → code, until its reply gives the count
	lines   []historyLine
}

type historyLine struct {
	n    int
	code string
}

func newHistory() *history { return &history{pending: map[string]string{}} }

// request records an execute_request that asks for its input to be stored.
func (h *history) request(msgID, code string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.pending) > 10000 { // replies that never came: forget them rather than grow
		clear(h.pending)
	}
	h.pending[msgID] = code
}

// reply records the execution count the kernel gave the request.
func (h *history) reply(parentID string, count int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	code, ok := h.pending[parentID]
	if !ok {
		return
	}
	delete(h.pending, parentID)
	if count > 0 {
		h.lines = append(h.lines, historyLine{count, code})
	}
}

// historyRequest is the content of a history_request.
type historyRequest struct {
	Output         bool    `json:"output"`
	Raw            bool    `json:"raw"`
	HistAccessType string  `json:"hist_access_type"`
	Session        *int    `json:"session"`
	Start          *int    `json:"start"`
	Stop           *int    `json:"stop"`
	N              *int    `json:"n"`
	Pattern        *string `json:"pattern"`
	Unique         bool    `json:"unique"`
}

// answer returns the history entries asked for: [session, line, input], or [session, line, [input,
// output]] with output set (a Go cell has no output value: null).
func (h *history) answer(r historyRequest) []any {
	h.mu.Lock()
	lines := append([]historyLine(nil), h.lines...)
	h.mu.Unlock()

	var sel []historyLine
	switch r.HistAccessType {
	case "tail":
		sel = lines
		if r.N != nil && *r.N > 0 && *r.N < len(sel) {
			sel = sel[len(sel)-*r.N:]
		}
	case "range":
		if r.Session != nil && *r.Session > 0 && *r.Session != historySession {
			break
		}
		start, stop := 1, -1
		if r.Start != nil {
			start = *r.Start
		}
		if r.Stop != nil {
			stop = *r.Stop
		}
		for _, l := range lines {
			if l.n >= start && (stop < 0 || l.n < stop) {
				sel = append(sel, l)
			}
		}
	case "search":
		pattern := "*"
		if r.Pattern != nil {
			pattern = *r.Pattern
		}
		re := globRegexp(pattern)
		for _, l := range lines {
			if re.MatchString(l.code) {
				sel = append(sel, l)
			}
		}
		if r.Unique {
			seen := map[string]bool{}
			var uniq []historyLine
			for i := len(sel) - 1; i >= 0; i-- { // the latest of each input
				if !seen[sel[i].code] {
					seen[sel[i].code] = true
					uniq = append([]historyLine{sel[i]}, uniq...)
				}
			}
			sel = uniq
		}
		if r.N != nil && *r.N > 0 && *r.N < len(sel) {
			sel = sel[len(sel)-*r.N:]
		}
	}
	out := make([]any, 0, len(sel))
	for _, l := range sel {
		if r.Output {
			out = append(out, []any{historySession, l.n, []any{l.code, nil}})
		} else {
			out = append(out, []any{historySession, l.n, l.code})
		}
	}
	return out
}

// globRegexp turns a glob (`*`, `?`, `[…]`, as SQLite's GLOB that IPython's search uses) into a
// regular expression matching a whole input.
func globRegexp(glob string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for i := 0; i < len(glob); i++ {
		switch c := glob[i]; c {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '[':
			if j := strings.IndexByte(glob[i+1:], ']'); j > 0 {
				class := glob[i+1 : i+1+j]
				if class[0] == '^' {
					class = "^" + regexp.QuoteMeta(class[1:])
				} else {
					class = regexp.QuoteMeta(class)
				}
				b.WriteString("[" + class + "]")
				i += j + 1
				continue
			}
			b.WriteString(`\[`)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return regexp.MustCompile(`^\b$`) // matches nothing
	}
	return re
}
