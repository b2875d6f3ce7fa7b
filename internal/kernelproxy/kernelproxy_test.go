package kernelproxy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestIsComplete(t *testing.T) {
	cases := []struct{ code, status, indent string }{
		{"", "complete", ""},
		{"%%\nfmt.Println(\"hi\")", "complete", ""},
		{"func double(x int) int {\n\treturn 2 * x\n}", "complete", ""},
		{"import \"fmt\"\n\n%%\nfor i := 0; i < 3; i++ {\n\tfmt.Println(i)\n}", "complete", ""},
		{"!echo hello", "complete", ""},
		{"%%writefile x.txt\n{{{ not Go", "complete", ""},
		{"%env A=1\n%%\nx := 1\n_ = x", "complete", ""},
		{"func double(x int) int {", "incomplete", "\t"},
		{"%%\nxs := [][]int{{\n", "incomplete", "\t\t"},
		{"%%\nfmt.Println(1 +", "incomplete", "\t"},
		{"%%\nx := 1 +", "incomplete", ""},
		{"%%\nx :=", "incomplete", ""},
		{"%%\ns := `a raw string\nover lines", "incomplete", ""},
		{"%%\n/* a comment", "incomplete", ""},
		{"!echo one \\", "incomplete", ""},
		{"}", "invalid", ""},
		{"%%\nfmt.Println(1))", "invalid", ""},
		{"%%\nfmt.Println(\"unterminated\n)", "invalid", ""},
		{"%%\nx := [2]int{1, 2)", "invalid", ""},
		{"%%\nx := 1 # 2", "invalid", ""},
	}
	for _, c := range cases {
		status, indent := IsComplete(c.code)
		if status != c.status || indent != c.indent {
			t.Errorf("IsComplete(%q) = %q, %q; want %q, %q", c.code, status, indent, c.status, c.indent)
		}
	}
}

func TestHistory(t *testing.T) {
	h := newHistory()
	for i, code := range []string{"a := 1", "b := 2", "a := 1", "print(a)"} {
		id := fmt.Sprint("m", i)
		h.request(id, code)
		h.reply(id, i+1)
	}
	h.request("lost", "never answered")
	n := func(v int) *int { return &v }
	s := func(v string) *string { return &v }
	inputs := func(entries []any) (out []string) {
		for _, e := range entries {
			out = append(out, fmt.Sprintf("%v", e))
		}
		return out
	}
	cases := []struct {
		req  historyRequest
		want []string
	}{
		{historyRequest{HistAccessType: "tail", N: n(2)}, []string{"[1 3 a := 1]", "[1 4 print(a)]"}},
		{historyRequest{HistAccessType: "tail", N: n(1), Output: true}, []string{"[1 4 [print(a) <nil>]]"}},
		{historyRequest{HistAccessType: "range", Session: n(1), Start: n(2), Stop: n(4)}, []string{"[1 2 b := 2]", "[1 3 a := 1]"}},
		{historyRequest{HistAccessType: "range", Session: n(0), Start: n(4)}, []string{"[1 4 print(a)]"}},
		{historyRequest{HistAccessType: "range", Session: n(7), Start: n(1)}, nil},
		{historyRequest{HistAccessType: "search", Pattern: s("a :=*")}, []string{"[1 1 a := 1]", "[1 3 a := 1]"}},
		{historyRequest{HistAccessType: "search", Pattern: s("a :=*"), Unique: true}, []string{"[1 3 a := 1]"}},
		{historyRequest{HistAccessType: "search", Pattern: s("?[ab] := ?"), N: n(1)}, nil},
		{historyRequest{HistAccessType: "search", Pattern: s("[ab] := ?"), N: n(1)}, []string{"[1 3 a := 1]"}},
	}
	for _, c := range cases {
		if got := inputs(h.answer(c.req)); !reflect.DeepEqual(got, c.want) {
			data, _ := json.Marshal(c.req)
			t.Errorf("%s: got %q, want %q", data, got, c.want)
		}
	}
}

// iopub makes a signed iopub message of GoNB's for the execute_request "cell".
func iopub(s signer, msgType string, content any) *message {
	parent, _ := json.Marshal(header{MsgID: "cell", MsgType: "execute_request"})
	req := &message{header: parent, msgID: "cell", msgType: "execute_request"}
	m, err := s.reply("gonb", req, msgType, content)
	if err != nil {
		panic(err)
	}
	m.ids = [][]byte{[]byte("topic")}
	return m
}

func stderrMsg(s signer, text string) *message {
	return iopub(s, "stream", streamContent{Name: "stderr", Text: text})
}

// describe renders what the folder let through, checking every message's signature.
func describe(t *testing.T, s signer, msgs []*message) []string {
	t.Helper()
	var out []string
	for _, m := range msgs {
		frames := m.frames()
		p, err := parse(frames)
		if err != nil || !s.verify(p) {
			t.Fatalf("message %s: bad frames or signature (%v)", m.msgType, err)
		}
		var c map[string]any
		_ = json.Unmarshal(p.content, &c)
		switch p.msgType {
		case "stream":
			out = append(out, fmt.Sprintf("%s:%q", c["name"], c["text"]))
		case "error":
			out = append(out, fmt.Sprintf("error:%v:%q:%q", c["ename"], c["evalue"], c["traceback"]))
		case "status":
			out = append(out, "status:"+c["execution_state"].(string))
		default:
			out = append(out, p.msgType)
		}
	}
	return out
}

func TestFoldPanic(t *testing.T) {
	s := signer{[]byte("key")}
	gonbError := iopub(s, "error", map[string]any{"ename": "ERROR", "evalue": "exit status 2", "traceback": []string{"exit status 2"}})
	errorLines := iopub(s, "display_data", map[string]any{"data": map[string]any{"text/html": `<div class="gonb-err-location">…</div>`}})
	cases := []struct {
		name string
		in   []*message
		want []string
	}{{
		name: "a panic in pieces, after output",
		in: []*message{iopub(s, "status", map[string]string{"execution_state": "busy"}),
			iopub(s, "stream", streamContent{Name: "stdout", Text: "before\n"}),
			stderrMsg(s, "warning: x\npan"), stderrMsg(s, "ic: "), stderrMsg(s, "boom"), stderrMsg(s, "\n\ngoroutine 1 [running]:\nmain.main()\n"),
			stderrMsg(s, "exit status 2\n"), errorLines, gonbError, iopub(s, "status", map[string]string{"execution_state": "idle"})},
		want: []string{"status:busy", `stdout:"before\n"`, `stderr:"warning: x\n"`,
			`error:panic:"boom":["panic: boom" "" "goroutine 1 [running]:" "main.main()" "exit status 2"]`, "status:idle"},
	}, {
		name: "fatal error",
		in: []*message{iopub(s, "status", map[string]string{"execution_state": "busy"}),
			stderrMsg(s, "fatal error: all goroutines are asleep - deadlock!\n"), gonbError},
		want: []string{"status:busy", `error:fatal error:"all goroutines are asleep - deadlock!":["fatal error: all goroutines are asleep - deadlock!"]`},
	}, {
		name: "stderr that only looks like a panic's start",
		in: []*message{iopub(s, "status", map[string]string{"execution_state": "busy"}),
			stderrMsg(s, "pa"), stderrMsg(s, "ss\n"), stderrMsg(s, "a panic: not at a line's start\n"), stderrMsg(s, "pan"),
			iopub(s, "stream", streamContent{Name: "stdout", Text: "out\n"}), iopub(s, "status", map[string]string{"execution_state": "idle"})},
		want: []string{"status:busy", `stderr:"pass\n"`, `stderr:"a panic: not at a line's start\n"`, `stderr:"pan"`, `stdout:"out\n"`, "status:idle"},
	}, {
		name: "a panic line without an error after it is released at idle",
		in: []*message{iopub(s, "status", map[string]string{"execution_state": "busy"}),
			stderrMsg(s, "panic: recovered, printed\n"), stderrMsg(s, "more\n"), errorLines, iopub(s, "status", map[string]string{"execution_state": "idle"})},
		want: []string{"status:busy", `stderr:"panic: recovered, printed\n"`, `stderr:"more\n"`, "status:idle"},
	}, {
		name: "an error that is not a panic passes",
		in: []*message{iopub(s, "status", map[string]string{"execution_state": "busy"}),
			stderrMsg(s, "signal: interrupt\n"), errorLines, gonbError},
		want: []string{"status:busy", `stderr:"signal: interrupt\n"`, "display_data", `error:ERROR:"exit status 2":["exit status 2"]`},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFolder(s)
			var out []*message
			for _, m := range c.in {
				out = append(out, f.process(m)...)
			}
			if got := describe(t, s, out); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(c.want, "\n  "))
			}
		})
	}
}

// TestFoldBuildErrors: GoNB's HTML of a build's errors (testdata: captured from GoNB v0.11.5 through the
// installed kernel) passes as it is, and GoNB's "failed to run … exit status 1" error that follows carries
// the compiler's lines: what a batch runner and a text front end show.
func TestFoldBuildErrors(t *testing.T) {
	s := signer{[]byte("key")}
	read := func(name string) string {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	for _, c := range []struct {
		fixture string
		want    string
	}{
		{"gonb-build-error", `error:compile error:"Cell[1]: Line 2: declared and not used: x":["Cell[1]: Line 2: declared and not used: x" "Cell[1]: Line 3: undefined: y" ` +
			`"failed to run \"/usr/local/go/bin/go build -o /tmp/gonb_4c3d881b/gonb_4c3d881b\": exit status 1"]`},
		{"gonb-get-error", `error:import error:"go: gonb_4c3d881b imports":["go: gonb_4c3d881b imports" ` +
			`"github.com/gomlx/gomlx/pkg/core/tensors: cannot find module providing package github.com/gomlx/gomlx/pkg/core/tensors" ` +
			`"failed to run \"/usr/local/go/bin/go get\": exit status 1"]`},
	} {
		t.Run(c.fixture, func(t *testing.T) {
			evalue := read(c.fixture + ".evalue")
			f := newFolder(s)
			var out []*message
			for _, m := range []*message{iopub(s, "status", map[string]string{"execution_state": "busy"}),
				iopub(s, "display_data", map[string]any{"data": map[string]any{"text/html": read(c.fixture + ".html")}}),
				iopub(s, "error", map[string]any{"ename": "ERROR", "evalue": evalue, "traceback": []string{evalue}}),
				iopub(s, "status", map[string]string{"execution_state": "idle"})} {
				out = append(out, f.process(m)...)
			}
			want := []string{"status:busy", "display_data", c.want, "status:idle"}
			if got := describe(t, s, out); !reflect.DeepEqual(got, want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
	// An error that is not GoNB's "failed to run" (a program's exit status) passes as it came.
	f := newFolder(s)
	html := read("gonb-build-error.html")
	var out []*message
	for _, m := range []*message{iopub(s, "status", map[string]string{"execution_state": "busy"}),
		iopub(s, "display_data", map[string]any{"data": map[string]any{"text/html": html}}),
		iopub(s, "error", map[string]any{"ename": "ERROR", "evalue": "exit status 3", "traceback": []string{"exit status 3"}})} {
		out = append(out, f.process(m)...)
	}
	if got := describe(t, s, out); got[len(got)-1] != `error:ERROR:"exit status 3":["exit status 3"]` {
		t.Errorf("a program's own exit status was rewritten: %v", got)
	}
}
