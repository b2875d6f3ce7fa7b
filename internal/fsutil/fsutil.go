// Package fsutil holds the few file-system helpers several gonbgpu packages share: where machine-local
// state goes, and how files are written so that a crash never leaves half of one behind.
package fsutil

import (
	"io"
	"os"
	"path/filepath"
)

// CacheDir is where gonbgpu keeps machine-local files (CUDA plugin links, downloaded datasets):
// $GONBGPU_CACHE_DIR, else gonbgpu under the user's cache directory (~/.cache/gonbgpu).
func CacheDir() string {
	if d := os.Getenv("GONBGPU_CACHE_DIR"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "gonbgpu")
	}
	return filepath.Join(os.TempDir(), "gonbgpu-cache")
}

// WriteAtomic writes a file through a temporary file in the same folder, synced, then renamed over the
// target: readers, and a process killed at any moment, see the old content or the new, never a mix.
// fill writes the content. The folder is created if needed.
func WriteAtomic(path string, mode os.FileMode, fill func(io.Writer) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := fill(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	SyncDir(dir)
	return nil
}

// WriteFileAtomic is WriteAtomic for content already in memory.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	return WriteAtomic(path, mode, func(w io.Writer) error { _, err := w.Write(data); return err })
}

// SyncDir flushes a folder's entries (a rename into it) to disk. Some file systems (NFS) refuse; the
// rename is atomic all the same, so the error is ignored.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}
