package install

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/gonbgpu/gonbgpu/internal/fsutil"
)

// manifestName is the file, inside the kernelspec folder, listing what gonbgpu wrote there.
const manifestName = ".gonbgpu-manifest.json"

// manifest records each file gonbgpu wrote in a kernelspec folder, by path relative to it, with the
// SHA-256 of the content written. It is what makes reinstalls idempotent and uninstalls precise.
type manifest struct {
	dir   string
	Files map[string]string `json:"files"`
	Dirs  []string          `json:"dirs,omitempty"` // folders created, removed on uninstall when empty
}

func readManifest(dir string) (*manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, manifestName))
	if err != nil {
		return nil, err
	}
	m := &manifest{dir: dir}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%s: corrupt gonbgpu manifest: %w", filepath.Join(dir, manifestName), err)
	}
	if m.Files == nil {
		m.Files = map[string]string{}
	}
	for rel := range m.Files {
		if !safeRel(rel) {
			return nil, fmt.Errorf("%s: manifest names %q, outside the kernelspec folder", filepath.Join(dir, manifestName), rel)
		}
	}
	return m, nil
}

// safeRel reports whether rel is a clean relative path that stays inside its folder.
func safeRel(rel string) bool {
	return rel != "" && !filepath.IsAbs(rel) && filepath.Clean(rel) == rel && rel != ".." &&
		!strings.HasPrefix(rel, "../")
}

// openManifest prepares the manifest for an install into dir. A folder that exists with a kernel.json
// but no manifest belongs to someone else: it is only replaced with force.
func openManifest(dir string, force bool) (*manifest, error) {
	m, err := readManifest(dir)
	if err == nil {
		return m, nil
	}
	if !os.IsNotExist(err) && !errors.Is(err, syscall.ENOTDIR) {
		return nil, err
	}
	if _, statErr := os.Stat(filepath.Join(dir, "kernel.json")); statErr == nil && !force {
		return nil, fmt.Errorf("gonbgpu install: %s holds a kernelspec that gonbgpu did not write; "+
			"it is left untouched (use --force to replace it)", dir)
	}
	return &manifest{dir: dir, Files: map[string]string{}}, nil
}

// ensureDir creates dir (and its parents), remembering the folders it made, with a clear error for
// read-only or unreachable locations.
func (m *manifest) ensureDir(dir string) error {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gonbgpu install: cannot create %s: %w (choose a folder you can write with --prefix DIR or JUPYTER_DATA_DIR)", dir, unwrapPath(err))
	}
	if probe, err := os.CreateTemp(dir, ".write-test-*"); err != nil {
		return fmt.Errorf("gonbgpu install: cannot write into %s: %w (choose a folder you can write with --prefix DIR or JUPYTER_DATA_DIR)", dir, unwrapPath(err))
	} else {
		probe.Close()
		os.Remove(probe.Name())
	}
	for _, d := range missing {
		if rel, err := filepath.Rel(m.dir, d); err == nil && safeRel(rel) {
			m.addDir(rel)
		}
	}
	return nil
}

func (m *manifest) addDir(rel string) {
	for _, d := range m.Dirs {
		if d == rel {
			return
		}
	}
	m.Dirs = append(m.Dirs, rel)
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// status of a file relative to the manifest.
type fileStatus int

const (
	fileAbsent  fileStatus = iota // not on disk
	fileOurs                      // on disk, as gonbgpu last wrote it
	fileEdited                    // on disk, recorded, but changed since
	fileForeign                   // on disk, never written by gonbgpu
)

func (m *manifest) status(rel string) (fileStatus, []byte) {
	data, err := os.ReadFile(filepath.Join(m.dir, rel))
	if err != nil {
		return fileAbsent, nil
	}
	want, ok := m.Files[rel]
	switch {
	case !ok:
		return fileForeign, data
	case want == sum(data):
		return fileOurs, data
	default:
		return fileEdited, data
	}
}

// write puts content at rel atomically (temp file + rename) unless it is already there, and records it.
// It returns "written", "updated" or "unchanged".
func (m *manifest) write(rel string, content []byte, mode os.FileMode) (string, error) {
	path := filepath.Join(m.dir, rel)
	verb := "written"
	if cur, err := os.ReadFile(path); err == nil {
		if bytes.Equal(cur, content) {
			m.Files[rel] = sum(content)
			if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() != mode.Perm() {
				_ = os.Chmod(path, mode)
			}
			return "unchanged", nil
		}
		verb = "updated"
	}
	if err := fsutil.WriteAtomic(path, mode, func(w io.Writer) error { _, err := w.Write(content); return err }); err != nil {
		return "", fmt.Errorf("gonbgpu install: writing %s: %w", path, err)
	}
	m.Files[rel] = sum(content)
	return verb, nil
}

// save writes the manifest itself.
func (m *manifest) save() error {
	sort.Strings(m.Dirs)
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	path := filepath.Join(m.dir, manifestName)
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, data) {
		return nil
	}
	return fsutil.WriteAtomic(path, 0o644, func(w io.Writer) error { _, err := w.Write(data); return err })
}

// removeAll deletes the recorded files, the manifest and the folders gonbgpu created once empty. Files
// recorded but since edited are removed too (they are gonbgpu's files, only changed); anything else in
// the folder stays and is reported.
func (m *manifest) removeAll() (removed int, kept []string, err error) {
	for rel := range m.Files {
		p := filepath.Join(m.dir, rel)
		if e := os.Remove(p); e == nil {
			removed++
		} else if !os.IsNotExist(e) {
			return removed, nil, fmt.Errorf("gonbgpu uninstall: removing %s: %w", p, e)
		}
	}
	if e := os.Remove(filepath.Join(m.dir, manifestName)); e != nil && !os.IsNotExist(e) {
		return removed, nil, e
	}
	// Remove created folders deepest first, only when empty.
	dirs := append([]string{"bin"}, m.Dirs...)
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, rel := range dirs {
		_ = os.Remove(filepath.Join(m.dir, rel)) // fails (and keeps it) if not empty
	}
	_ = os.Remove(m.dir)
	if _, e := os.Stat(m.dir); e == nil {
		_ = filepath.Walk(m.dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				rel, _ := filepath.Rel(m.dir, p)
				kept = append(kept, rel)
			}
			return nil
		})
	}
	return removed, kept, nil
}

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}
