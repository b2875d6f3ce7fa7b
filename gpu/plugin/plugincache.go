package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/gonbgpu/gonbgpu/internal/fsutil"
)

// pluginCacheMu serialises the read-modify-write of the plugin answer files within a process.
var pluginCacheMu sync.Mutex

// pluginCached answers a question about the plugin library at path once per library (its path, size and
// modification time) and question (what), keeping the answer in <cacheDir>/<file>: plugins are hundreds of
// MB and loading one takes seconds, while every notebook cell is a new process. An error from ask is
// returned and not kept (its cause may be gone by the next run); a damaged or unwritable answer file only
// costs asking again.
func pluginCached[T any](path, what, cacheDir, file string, ask func() (T, error)) (T, error) {
	var zero T
	info, err := os.Stat(path)
	if err != nil {
		return zero, fmt.Errorf("plugin %s: %w", path, err)
	}
	key := fmt.Sprintf("%s|%d|%d", path, info.Size(), info.ModTime().UnixNano())
	if what != "" {
		key += "|" + what
	}
	cacheFile := filepath.Join(cacheDir, file)
	pluginCacheMu.Lock()
	defer pluginCacheMu.Unlock()
	known := map[string]T{}
	if data, err := os.ReadFile(cacheFile); err == nil {
		_ = json.Unmarshal(data, &known)
	}
	if v, ok := known[key]; ok {
		return v, nil
	}
	v, err := ask()
	if err != nil {
		return v, err
	}
	known[key] = v
	_ = fsutil.WriteAtomic(cacheFile, 0o644, func(w io.Writer) error { return json.NewEncoder(w).Encode(known) })
	return v, nil
}
