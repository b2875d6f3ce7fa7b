package ipynb

import (
	"strings"
	"testing"
)

const sample = `{
 "cells": [
  {"cell_type": "markdown", "metadata": {}, "source": ["# Title\n", "text"]},
  {"cell_type": "code", "execution_count": 1, "metadata": {}, "source": "%%\nfmt.Println(1)",
   "outputs": [
    {"output_type": "stream", "name": "stdout", "text": ["gonbgpu: backend go (pure Go): x\n", "1\n"]},
    {"output_type": "display_data", "metadata": {}, "data": {"text/html": ["<b>", "table</b>"], "image/svg+xml": "<svg/>", "application/json": {"a": 1}}}
   ]},
  {"cell_type": "code", "execution_count": 2, "metadata": {}, "source": "panic(1)",
   "outputs": [
    {"output_type": "stream", "name": "stderr", "text": "warning\n"},
    {"output_type": "error", "ename": "ERROR", "evalue": "exit status 2", "traceback": ["\u001b[31mpanic: 1\u001b[0m"]}
   ]}
 ],
 "metadata": {}, "nbformat": 4, "nbformat_minor": 5
}`

func TestParse(t *testing.T) {
	nb, err := Parse("sample.ipynb", []byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(nb.Cells) != 3 || nb.CodeCells() != 2 {
		t.Fatalf("cells: %d, code: %d", len(nb.Cells), nb.CodeCells())
	}
	if string(nb.Cells[0].Source) != "# Title\ntext" {
		t.Errorf("list source not joined: %q", nb.Cells[0].Source)
	}
	text := nb.AllText()
	for _, w := range []string{"gonbgpu: backend go", "<b>table</b>"} {
		if !strings.Contains(text, w) {
			t.Errorf("AllText lacks %q: %q", w, text)
		}
	}
	if strings.Contains(text, "warning") {
		t.Errorf("stderr must not be in AllText")
	}
	if nb.CountMIME("image/svg+xml") != 1 || nb.CountMIME("image/png") != 0 {
		t.Errorf("CountMIME")
	}
	errs := nb.Errors()
	if len(errs) != 2 {
		t.Fatalf("want 2 errors (stderr + error output), got %v", errs)
	}
	if !strings.Contains(errs[1].Message, "panic: 1") || strings.Contains(errs[1].Message, "\x1b") {
		t.Errorf("traceback not cleaned: %q", errs[1].Message)
	}
	if errs[1].Cell != 2 || errs[1].Source != "panic(1)" {
		t.Errorf("error location: %+v", errs[1])
	}
}

func TestParseRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not json":      `{"cells": [`,
		"nbformat 3":    `{"cells": [], "nbformat": 3}`,
		"bad cell type": `{"cells": [{"cell_type": "python", "source": ""}], "nbformat": 4}`,
		"bad output":    `{"cells": [{"cell_type": "code", "source": "", "outputs": [{"output_type": "weird"}]}], "nbformat": 4}`,
		"trailing":      `{"cells": [], "nbformat": 4} garbage`,
	} {
		_, err := Parse("x.ipynb", []byte(in))
		if err == nil || !strings.Contains(err.Error(), "x.ipynb") {
			t.Errorf("%s: want an error naming the file, got %v", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(`{"cells":[],"nbformat":4}`))
	f.Add([]byte(`{"cells":[{"cell_type":"code","source":["a","b"],"outputs":[{"output_type":"stream","text":[1,2]}]}],"nbformat":4}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		nb, err := Parse("fuzz.ipynb", data)
		if err != nil {
			return
		}
		_ = nb.AllText()
		_ = nb.Errors()
		_ = nb.CountMIME("image/png")
	})
}
