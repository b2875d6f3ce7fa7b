package kernelspec

import (
	"bytes"
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	s := &Spec{Argv: []string{"/k/bin/gonb", "--kernel", "{connection_file}", "-go_work=/src"}, DisplayName: DisplayName,
		Language: "go", InterruptMode: "message", Env: map[string]string{"B": "2", "A": "1"}}
	data, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Index(string(data), `"A"`) > strings.Index(string(data), `"B"`) {
		t.Errorf("env keys not sorted:\n%s", data)
	}
	again, err := Parse("kernel.json", data)
	if err != nil {
		t.Fatal(err)
	}
	data2, _ := again.Marshal()
	if string(data) != string(data2) {
		t.Fatalf("not stable:\n%s\n%s", data, data2)
	}
	if w, ok := again.Flag("go_work"); !ok || w != "/src" {
		t.Errorf("Flag(go_work) = %q %v", w, ok)
	}
	if got := again.EnvKeys(); strings.Join(got, ",") != "A,B" {
		t.Errorf("EnvKeys %v", got)
	}
}

func TestParseRejects(t *testing.T) {
	for name, in := range map[string]string{
		"not json":        `{"argv": [`,
		"empty argv":      `{"argv": [], "display_name": "x", "language": "go"}`,
		"no conn file":    `{"argv": ["gonb"], "display_name": "x", "language": "go"}`,
		"no display name": `{"argv": ["gonb", "{connection_file}"], "language": "go"}`,
		"bad interrupt":   `{"argv": ["gonb", "{connection_file}"], "display_name": "x", "language": "go", "interrupt_mode": "poke"}`,
		"wrong type":      `{"argv": "gonb {connection_file}", "display_name": "x", "language": "go"}`,
	} {
		if _, err := Parse("k/kernel.json", []byte(in)); err == nil || !strings.Contains(err.Error(), "k/kernel.json") {
			t.Errorf("%s: want an error naming the file, got %v", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"argv":["/k/gonb","--kernel","{connection_file}"],"display_name":"Go (gonbgpu)","language":"go","env":{"A":"1"}}`))
	f.Add([]byte(`{"argv":[""],"display_name":"","language":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.json", data)
		if err != nil {
			return
		}
		// Whatever parses must marshal and parse back to the same bytes.
		out, err := s.Marshal()
		if err != nil {
			t.Fatalf("parsed spec does not marshal: %v", err)
		}
		s2, err := Parse("again.json", out)
		if err != nil {
			t.Fatalf("marshalled spec does not parse: %v", err)
		}
		out2, _ := s2.Marshal()
		if string(out) != string(out2) {
			t.Fatalf("unstable:\n%s\n%s", out, out2)
		}
	})
}

// TestNew: gonbgpu's kernelspec starts GoNB through gonbgpu-kernel, both from binDir, passes the
// connection file and the checkout (read back with Flag and from the metadata), and is a valid kernel.json.
func TestNew(t *testing.T) {
	env := map[string]string{"GOTOOLCHAIN": "go1.27.3"}
	s := New("/k/bin", "/src/gonbgpu", env)
	if want := []string{"/k/bin/gonbgpu-kernel", "/k/bin/gonb", "--kernel", "{connection_file}", "-go_work=/src/gonbgpu"}; !slices.Equal(s.Argv, want) {
		t.Errorf("argv %q, want %q", s.Argv, want)
	}
	if w, ok := s.Flag("go_work"); !ok || w != "/src/gonbgpu" {
		t.Errorf("Flag(go_work) = %q %v", w, ok)
	}
	if s.DisplayName != DisplayName || s.Language != "go" || s.InterruptMode != "message" || s.Env["GOTOOLCHAIN"] != "go1.27.3" {
		t.Errorf("spec %+v", s)
	}
	data, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("kernel.json", data)
	if err != nil {
		t.Fatal(err)
	}
	if co, _ := back.Metadata["gonbgpu"].(map[string]any)["checkout"].(string); co != "/src/gonbgpu" {
		t.Errorf("metadata %v: want the checkout recorded", back.Metadata)
	}
}

// TestLogos: the three files Jupyter shows, each what its name says.
func TestLogos(t *testing.T) {
	logos := Logos()
	if len(logos) != 3 {
		t.Fatalf("logos %v: want the SVG and the 32 and 64 pixel PNGs", slices.Sorted(maps.Keys(logos)))
	}
	for name, data := range logos {
		if strings.HasSuffix(name, ".png") && !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) ||
			strings.HasSuffix(name, ".svg") && !bytes.Contains(data, []byte("<svg")) {
			t.Errorf("%s (%d bytes) is not what its name says", name, len(data))
		}
	}
}
