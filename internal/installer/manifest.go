package installer

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
	force bool              // overwrite files gonbgpu did not write, or changed since (--force)
	Files map[string]string `json:"files"`
	Dirs  []string          `json:"dirs,omitempty"` // folders created, removed on uninstall when empty
}

func readManifest(dir string) (*manifest, error) {
	path := filepath.Join(dir, manifestName)
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%s): gonbgpu does not trust it as its manifest", path, fi.Mode().Type())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := &manifest{dir: dir}
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("%s: corrupt gonbgpu manifest: %w", path, err)
	}
	if m.Files == nil {
		m.Files = map[string]string{}
	}
	for rel, h := range m.Files {
		if !safeRel(rel) || rel == manifestName {
			return nil, fmt.Errorf("%s: manifest names the file %q, outside the kernelspec folder", path, rel)
		}
		if !validSum(h) {
			return nil, fmt.Errorf("%s: manifest entry %q has no valid SHA-256 (%q)", path, rel, h)
		}
	}
	for _, rel := range m.Dirs {
		if !safeRel(rel) {
			return nil, fmt.Errorf("%s: manifest names the folder %q, outside the kernelspec folder", path, rel)
		}
	}
	return m, nil
}

// safeRel reports whether rel is a clean relative path that stays inside its folder.
func safeRel(rel string) bool {
	return rel != "" && rel != "." && !filepath.IsAbs(rel) && filepath.Clean(rel) == rel && rel != ".." &&
		!strings.HasPrefix(rel, "../") && !strings.ContainsRune(rel, 0)
}

func validSum(h string) bool {
	b, err := hex.DecodeString(h)
	return err == nil && len(b) == sha256.Size && strings.ToLower(h) == h
}

// inside returns the path of rel in the manifest's folder after checking that no folder on the way is a
// symbolic link: a link planted inside the kernelspec folder must not lead a write or a removal outside
// it. The entry itself is not followed either (callers use Lstat).
func (m *manifest) inside(rel string) (string, error) {
	if !safeRel(rel) {
		return "", fmt.Errorf("gonbgpu: %q is outside the kernelspec folder %s", rel, m.dir)
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	p := m.dir
	for _, part := range parts[:len(parts)-1] {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if err != nil {
			if os.IsNotExist(err) {
				break
			}
			return "", err
		}
		if fi.Mode()&os.ModeSymlink != 0 || !fi.IsDir() {
			return "", fmt.Errorf("gonbgpu: %s is not a plain folder (a symbolic link or a file): "+
				"gonbgpu does not follow it out of the kernelspec folder %s", p, m.dir)
		}
	}
	return filepath.Join(m.dir, rel), nil
}

// openManifest prepares the manifest for an install into dir. A folder that exists with a kernel.json
// but no manifest belongs to someone else: it is only replaced with force.
func openManifest(dir string, force bool) (*manifest, error) {
	m, err := readManifest(dir)
	if err == nil {
		m.force = force
		return m, nil
	}
	if !os.IsNotExist(err) && !errors.Is(err, syscall.ENOTDIR) {
		return nil, err
	}
	if _, statErr := os.Stat(filepath.Join(dir, "kernel.json")); statErr == nil && !force {
		return nil, fmt.Errorf("gonbgpu install: %s holds a kernelspec that gonbgpu did not write; "+
			"it is left untouched (use --force to replace it)", dir)
	}
	return &manifest{dir: dir, Files: map[string]string{}, force: force}, nil
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
	path, err := m.inside(rel)
	if err != nil {
		return fileForeign, nil
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fileAbsent, nil
	}
	if !fi.Mode().IsRegular() {
		return fileForeign, nil // a link, a folder, a device: never gonbgpu's
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fileForeign, nil
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
// It returns "written", "updated" or "unchanged". A file at rel that gonbgpu did not write, or that
// changed since it did, is someone else's: it is replaced only with --force, otherwise the error names it.
func (m *manifest) write(rel string, content []byte, mode os.FileMode) (string, error) {
	path, err := m.inside(rel)
	if err != nil {
		return "", err
	}
	verb := "written"
	switch st, cur := m.status(rel); st {
	case fileOurs, fileEdited, fileForeign:
		if cur != nil && bytes.Equal(cur, content) {
			if st == fileForeign && !m.force {
				return "unchanged", nil // already right, but not ours: not adopted, so never deleted
			}
			m.Files[rel] = sum(content)
			if fi, err := os.Stat(path); err == nil && fi.Mode().Perm() != mode.Perm() {
				_ = os.Chmod(path, mode)
			}
			return "unchanged", nil
		}
		if st != fileOurs && !m.force {
			why := "gonbgpu did not write it"
			if st == fileEdited {
				why = "it changed since gonbgpu wrote it"
			}
			return "", fmt.Errorf("gonbgpu install: %s is in the way: %s, so it is left untouched "+
				"(move it away, or use --force to replace it)", path, why)
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

// removeAll deletes the recorded files that are still as gonbgpu wrote them, the manifest, and the
// folders gonbgpu created once empty. A recorded file the user changed since (an edited kernel.json) is
// the user's now: it stays, and is reported in edited; so does anything gonbgpu never wrote (foreign).
func (m *manifest) removeAll() (removed int, edited, foreign []string, err error) {
	rels := make([]string, 0, len(m.Files))
	for rel := range m.Files {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	for _, rel := range rels {
		switch st, _ := m.status(rel); st {
		case fileOurs:
			p, _ := m.inside(rel)
			if e := os.Remove(p); e == nil {
				removed++
			} else if !os.IsNotExist(e) {
				return removed, nil, nil, fmt.Errorf("gonbgpu uninstall: removing %s: %w", p, e)
			}
		case fileEdited, fileForeign:
			edited = append(edited, rel)
		}
	}
	if e := os.Remove(filepath.Join(m.dir, manifestName)); e != nil && !os.IsNotExist(e) {
		return removed, nil, nil, e
	}
	// Remove created folders deepest first, only when empty and plain folders.
	dirs := append([]string{"bin"}, m.Dirs...)
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, rel := range dirs {
		if p, err := m.inside(rel); err == nil {
			if fi, err := os.Lstat(p); err == nil && fi.IsDir() {
				_ = os.Remove(p) // fails (and keeps it) if not empty
			}
		}
	}
	_ = os.Remove(m.dir)
	foreign = leftFiles(m.dir, edited)
	return removed, edited, foreign, nil
}

// leftFiles lists what is still in dir (not following links), except the names in skip.
func leftFiles(dir string, skip []string) []string {
	var left []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		for _, s := range skip {
			if s == rel {
				return nil
			}
		}
		left = append(left, rel)
		return nil
	})
	return left
}

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}
