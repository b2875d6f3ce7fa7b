// Package kernelspec reads and writes Jupyter kernelspecs (kernel.json), the file that tells Jupyter how to
// start a kernel: its command line, display name, language and environment. It also says what gonbgpu's
// own kernelspec holds ([New], [Name], [DisplayName], [Logos]); the installer (internal/installer) decides
// where it goes, gathers the cells' environment and writes the files.
//
// It is kept apart from the installer so that tests and tools can parse and check a kernelspec without
// pulling in the installer, and so that every place that handles the file agrees on its shape.
// See https://jupyter-client.readthedocs.io/en/latest/kernels.html#kernel-specs.
package kernelspec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Name is the kernelspec's folder name, and so the kernel name Jupyter and nbconvert use.
const Name = "gonbgpu"

// DisplayName is what the notebook's kernel picker shows.
const DisplayName = "Go (gonbgpu)"

// New is gonbgpu's kernelspec, for the kernel's tools in binDir (gonbgpu-kernel and gonb, which the
// installer builds there) and the checkout that cells import packages from (GoNB's -go_work); env is what
// cells run and compile with. gonbgpu-kernel runs GoNB so that what a cell starts ends with the cell
// (package internal/reaper); interrupts go as messages; the metadata records the checkout.
func New(binDir, checkout string, env map[string]string) *Spec {
	return &Spec{
		Argv: []string{filepath.Join(binDir, "gonbgpu-kernel"), filepath.Join(binDir, "gonb"),
			"--kernel", "{connection_file}", "-go_work=" + checkout},
		DisplayName:   DisplayName,
		Language:      "go",
		InterruptMode: "message",
		Env:           env,
		Metadata:      map[string]any{"gonbgpu": map[string]any{"checkout": checkout}},
	}
}

// Spec is the content of a kernel.json.
type Spec struct {
	Argv          []string          `json:"argv"`
	DisplayName   string            `json:"display_name"`
	Language      string            `json:"language"`
	InterruptMode string            `json:"interrupt_mode,omitempty"`
	Env           map[string]string `json:"env,omitempty"`
	Metadata      map[string]any    `json:"metadata,omitempty"`
}

// Parse decodes and checks a kernel.json; name is used in error messages (usually the file's path).
func Parse(name string, data []byte) (*Spec, error) {
	var s Spec
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: not a valid kernel.json: %w", name, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: not a valid kernel.json: extra data after the JSON object", name)
	}
	if err := s.Check(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &s, nil
}

// Read reads and checks the kernel.json at path.
func Read(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Check verifies the fields Jupyter needs to launch the kernel.
func (s *Spec) Check() error {
	if len(s.Argv) == 0 {
		return fmt.Errorf("kernelspec has an empty argv: Jupyter would have no command to start")
	}
	if s.Argv[0] == "" {
		return fmt.Errorf("kernelspec argv[0] is empty")
	}
	found := false
	for _, a := range s.Argv {
		if strings.Contains(a, "{connection_file}") {
			found = true
		}
	}
	if !found {
		return fmt.Errorf("kernelspec argv %q never passes {connection_file}: the kernel could not connect", s.Argv)
	}
	if s.DisplayName == "" {
		return fmt.Errorf("kernelspec has no display_name")
	}
	if s.Language == "" {
		return fmt.Errorf("kernelspec has no language")
	}
	switch s.InterruptMode {
	case "", "signal", "message":
	default:
		return fmt.Errorf("kernelspec interrupt_mode %q is neither \"signal\" nor \"message\"", s.InterruptMode)
	}
	return nil
}

// Marshal encodes the spec as indented JSON with sorted keys and a final newline, so that equal specs give
// equal bytes and a reinstall can tell "unchanged" from "edited".
func (s *Spec) Marshal() ([]byte, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	// encoding/json sorts map keys; struct fields keep their declared order.
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// EnvKeys returns the env's names, sorted.
func (s *Spec) EnvKeys() []string {
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Flag returns the value of a "-name=value" or "--name=value" argument in argv, and whether it is there.
func (s *Spec) Flag(name string) (string, bool) {
	for _, a := range s.Argv {
		for _, p := range []string{"-" + name + "=", "--" + name + "="} {
			if v, ok := strings.CutPrefix(a, p); ok {
				return v, true
			}
		}
	}
	return "", false
}
