package catalog

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
)

var defaultClient = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	TLSHandshakeTimeout:   30 * time.Second,
	ResponseHeaderTimeout: 60 * time.Second,
	IdleConnTimeout:       30 * time.Second,
}}

// MismatchError is a downloaded or present file whose digest is not the pinned one.
type MismatchError struct {
	File      string // path, or URL for a download
	Got, Want string // hex SHA-256 digests
	What      string // "file" or "decompressed content"
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("%s: SHA-256 mismatch (%s): got %s, want %s; nothing was kept", e.File, e.What, e.Got, e.Want)
}

// Fetch downloads the dataset name into o.Dir/name, verifying every file, and returns that folder. Files
// already there are verified, not downloaded again; a file there that does not verify is reported, not
// replaced (it may be someone's).
func Fetch(ctx context.Context, name string, o Options) (string, error) {
	o = o.withDefaults()
	s, err := lookup(name, o)
	if err != nil {
		return "", err
	}
	base := s.URL
	if o.Mirror != "" {
		u, err := url.Parse(o.Mirror)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("mirror %q: not an http(s) URL", o.Mirror)
		}
		base = o.Mirror
	}
	dir := filepath.Join(o.Dir, s.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("%s: cannot create %s: %w", name, dir, err)
	}
	if s.Archive != "" {
		return dir, fetchArchive(ctx, s, base, dir, &o)
	}
	for _, f := range s.Files {
		dst := filepath.Join(dir, f.Name)
		if fi, err := os.Lstat(dst); err == nil {
			if !fi.Mode().IsRegular() {
				return "", fmt.Errorf("%s is not a regular file: move it away and fetch again", dst)
			}
			if err := verifyPresent(dst, f); err != nil {
				return "", fmt.Errorf("%w (the file was there before: move it away and fetch again)", err)
			}
			say(&o, "%s: present, verified\n", dst)
			continue
		}
		u, err := url.JoinPath(base, f.Name)
		if err != nil {
			return "", fmt.Errorf("bad base URL %q: %w", base, err)
		}
		if err := download(ctx, &o, u, dst, f.MaxSize, func(tmp string) error { return verifyFile(tmp, u, f) }); err != nil {
			return "", err
		}
		say(&o, "%s: verified\n", dst)
	}
	return dir, nil
}

func say(o *Options, format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format, args...)
	}
}

// download streams rawURL into a temporary file beside dst (at most maxSize bytes), runs verify on it,
// and renames it to dst only if verify accepts it. On any failure the temporary file is removed.
func download(ctx context.Context, o *Options, rawURL, dst string, maxSize int64, verify func(tmp string) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".part-*")
	if err != nil {
		return fmt.Errorf("%s: %w", dst, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	resp, err := o.Client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", rawURL, resp.Status)
	}
	if resp.ContentLength > maxSize {
		return fmt.Errorf("GET %s: the server announces %d bytes, more than the %d this file can be", rawURL, resp.ContentLength, maxSize)
	}
	var w io.Writer = tmp
	if o.Progress != nil {
		bar := progressbar.NewOptions64(resp.ContentLength,
			progressbar.OptionSetWriter(o.Progress), progressbar.OptionSetDescription(path.Base(dst)),
			progressbar.OptionShowBytes(true), progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(o.Progress) }))
		w = io.MultiWriter(tmp, bar)
		defer bar.Finish()
	}
	n, err := io.Copy(w, io.LimitReader(resp.Body, maxSize+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", rawURL, err)
	}
	if n > maxSize {
		return fmt.Errorf("GET %s: more than %d bytes, more than this file can be; nothing was kept", rawURL, maxSize)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := verify(tmp.Name()); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

func fileSHA256(p string) (string, error) {
	fh, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// contentSHA256 hashes a gzipped file's decompressed content, reading at most limit+1 bytes of it.
func contentSHA256(p string, limit int64) (string, int64, error) {
	fh, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		return "", 0, err
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(zr, limit+1))
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// verifyFile accepts the stored digest, or else the pinned decompressed content. name labels errors.
func verifyFile(p, name string, f File) error {
	got, err := fileSHA256(p)
	if err != nil {
		return err
	}
	if got == f.SHA256 {
		return nil
	}
	if f.ContentSHA256 == "" {
		return &MismatchError{File: name, Got: got, Want: f.SHA256, What: "file"}
	}
	c, n, err := contentSHA256(p, f.ContentSize)
	if err != nil {
		return fmt.Errorf("%s: SHA-256 mismatch: got %s, want %s, and it is not a gzip file of the right content (%v); nothing was kept", name, got, f.SHA256, err)
	}
	if c != f.ContentSHA256 || n != f.ContentSize {
		return &MismatchError{File: name, Got: c, Want: f.ContentSHA256, What: "decompressed content"}
	}
	return nil
}

func verifyPresent(p string, f File) error {
	if f.SHA256 == "" && f.ContentSHA256 == "" {
		// An archive member: check what the archive promised about it.
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if f.ContentSize > 0 && fi.Size() != f.ContentSize {
			return fmt.Errorf("%s: %d bytes, want %d", p, fi.Size(), f.ContentSize)
		}
		return nil
	}
	return verifyFile(p, p, f)
}

// fetchArchive downloads s.Archive, verifies it whole, then extracts the expected files into a temporary
// folder and renames them into dir one by one: only the names in s.Files, only regular files, only the
// sizes they must have. The tarball itself is not kept.
func fetchArchive(ctx context.Context, s *Spec, base, dir string, o *Options) (err error) {
	if len(s.missing(dir)) == 0 {
		for _, f := range s.Files {
			if err := verifyPresent(filepath.Join(dir, f.Name), f); err != nil {
				return fmt.Errorf("%w (the file was there before: move it away and fetch again)", err)
			}
		}
		say(o, "%s: present (%d files)\n", dir, len(s.Files))
		return nil
	}
	for _, f := range s.Files {
		if _, err := os.Lstat(filepath.Join(dir, f.Name)); err == nil {
			return fmt.Errorf("%s: %s is incomplete (it has %s but lacks %v): move it away and fetch again",
				s.Name, dir, f.Name, s.missing(dir))
		}
	}
	u, err := url.JoinPath(base, s.Archive)
	if err != nil {
		return fmt.Errorf("bad base URL %q: %w", base, err)
	}
	work, err := os.MkdirTemp(dir, ".fetch-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	archive := filepath.Join(work, s.Archive)
	if err := download(ctx, o, u, archive, s.ArchiveMaxSize, func(tmp string) error {
		got, err := fileSHA256(tmp)
		if err != nil {
			return err
		}
		if got != s.ArchiveSHA256 {
			return &MismatchError{File: u, Got: got, Want: s.ArchiveSHA256, What: "file"}
		}
		return nil
	}); err != nil {
		return err
	}
	say(o, "%s: verified, unpacking\n", s.Archive)
	if err := extract(archive, s, work); err != nil {
		return fmt.Errorf("%s: %w; nothing was kept", u, err)
	}
	for _, f := range s.Files {
		if err := os.Rename(filepath.Join(work, f.Name), filepath.Join(dir, f.Name)); err != nil {
			return err
		}
	}
	say(o, "%s: %d files\n", dir, len(s.Files))
	return nil
}

// extract writes the expected entries of a verified .tar.gz into out (flat, by base name). Anything
// unexpected (a link, a device, a path outside the prefix, a file with the wrong size, a missing or
// repeated entry) is an error; entries outside the prefix that are plain files are skipped (readme.html).
func extract(archive string, s *Spec, out string) error {
	fh, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		return err
	}
	want := map[string]File{}
	for _, f := range s.Files {
		want[s.ArchivePrefix+f.Name] = f
	}
	seen := map[string]bool{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		name := h.Name
		if strings.Contains(name, "..") || strings.HasPrefix(name, "/") || strings.ContainsRune(name, 0) {
			return fmt.Errorf("archive entry %q: unsafe path", name)
		}
		f, ok := want[name]
		if !ok {
			if h.Typeflag == tar.TypeDir || h.Typeflag == tar.TypeReg {
				continue // the top folder, readme.html: not needed
			}
			return fmt.Errorf("archive entry %q: unexpected %s", name, typeName(h.Typeflag))
		}
		if h.Typeflag != tar.TypeReg {
			return fmt.Errorf("archive entry %q: a %s, want a regular file", name, typeName(h.Typeflag))
		}
		if seen[name] {
			return fmt.Errorf("archive entry %q: repeated", name)
		}
		seen[name] = true
		limit := f.MaxSize
		if f.ContentSize > 0 {
			limit = f.ContentSize
			if h.Size != f.ContentSize {
				return fmt.Errorf("archive entry %q: %d bytes, want %d", name, h.Size, f.ContentSize)
			}
		}
		if h.Size > limit {
			return fmt.Errorf("archive entry %q: %d bytes, more than %d", name, h.Size, limit)
		}
		dst, err := os.OpenFile(filepath.Join(out, f.Name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		n, err := io.Copy(dst, io.LimitReader(tr, limit+1))
		if err == nil && n != h.Size {
			err = fmt.Errorf("archive entry %q: %d bytes read, header says %d", name, n, h.Size)
		}
		if err == nil {
			err = dst.Sync()
		}
		if cerr := dst.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	for _, f := range s.Files {
		if !seen[s.ArchivePrefix+f.Name] {
			return fmt.Errorf("the archive lacks %s%s", s.ArchivePrefix, f.Name)
		}
	}
	return nil
}

func typeName(t byte) string {
	switch t {
	case tar.TypeDir:
		return "folder"
	case tar.TypeSymlink:
		return "symbolic link"
	case tar.TypeLink:
		return "hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "device"
	case tar.TypeFifo:
		return "FIFO"
	}
	return fmt.Sprintf("entry of type %q", t)
}
