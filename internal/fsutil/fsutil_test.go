package fsutil

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "f.json")
	if err := WriteFileAtomic(p, []byte("one"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(p, []byte("two"), 0o640); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if string(data) != "two" || fi.Mode().Perm() != 0o640 {
		t.Fatalf("content %q mode %v", data, fi.Mode())
	}
	// A failing fill leaves the old file and no temporary behind.
	err := WriteAtomic(p, 0o644, func(w io.Writer) error { w.Write([]byte("par")); return errors.New("disk full") })
	if err == nil {
		t.Fatal("want the fill's error")
	}
	data, _ = os.ReadFile(p)
	entries, _ := os.ReadDir(filepath.Dir(p))
	if string(data) != "two" || len(entries) != 1 {
		t.Fatalf("after a failed write: content %q, %d entries", data, len(entries))
	}
}

func TestCacheDir(t *testing.T) {
	t.Setenv("GONBGPU_CACHE_DIR", "/x/y")
	if CacheDir() != "/x/y" {
		t.Fatal(CacheDir())
	}
	t.Setenv("GONBGPU_CACHE_DIR", "")
	if filepath.Base(CacheDir()) != "gonbgpu" && filepath.Base(CacheDir()) != "gonbgpu-cache" {
		t.Fatal(CacheDir())
	}
}
