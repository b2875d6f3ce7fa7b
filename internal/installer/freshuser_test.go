package installer_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/ipynb"
	"github.com/gonbgpu/gonbgpu/vision/data/catalog"
)

// TestFreshUserInstall is issue 12's "done when": an ordinary user (created for the test when it runs as
// root, as CI does), with a fresh clone, an empty home, no apt (a stand-in apt-get records any call), and
// Debian's dataset folder out of sight (a private mount namespace hides it), runs `make install-kernel`
// and then `gonbgpu notebooks` on 00-setup-check.ipynb. The machine has no internet: the user's go
// command fetches the toolchain and modules (and checksum-database tiles) from a module proxy on
// 127.0.0.1 that serves this machine's module cache, as proxy.golang.org would.
//
// It builds the whole stack from an empty build cache, so it takes several minutes.
func TestFreshUserInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds everything from an empty cache as a new user")
	}
	_, file, _, _ := runtime.Caller(0)
	checkout := filepath.Dir(filepath.Dir(filepath.Dir(file)))
	goCmd := userGo()
	if goCmd == "" {
		t.Fatalf("no go command on PATH that an ordinary user can run (`go test` puts its own toolchain, in root's module cache, first)")
	}
	for _, tool := range []string{"git", "make", "jupyter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not on PATH (`make test` installs Jupyter)", tool)
		}
	}
	modCache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	proxyDir := filepath.Join(strings.TrimSpace(string(modCache)), "cache", "download")

	// The loopback module proxy.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// It also proxies the checksum database, from the tiles and lookups the cache holds, as
	// proxy.golang.org does: the toolchain download must be verified against it.
	files := http.FileServer(http.Dir(proxyDir))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/sumdb/sum.golang.org/supported" {
			return // 200: this proxy serves the checksum database
		}
		files.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })

	// The user and its home, outside any folder only root can enter.
	home, err := os.MkdirTemp("", "gonbgpu-fresh-home-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	os.Chmod(home, 0o755)
	uid, gid := os.Getuid(), os.Getgid()
	name := ""
	if os.Geteuid() == 0 {
		name = fmt.Sprintf("gonbgpu-fresh-%d", rand.IntN(1e6))
		if out, err := exec.Command("useradd", "--no-create-home", "--home-dir", home, "--shell", "/bin/bash", name).CombinedOutput(); err != nil {
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
		t.Cleanup(func() { exec.Command("userdel", name).Run() })
		u, err := user.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
	} else if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if uid == 0 {
		t.Fatal("the install must run as an ordinary user")
	}

	// A fresh clone of the committed checkout, owned by the user.
	clone := filepath.Join(home, "gonbgpu")
	if out, err := exec.Command("git", "clone", "--quiet", checkout, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	fakebin := filepath.Join(home, "fakebin")
	os.Mkdir(fakebin, 0o755)
	aptLog := filepath.Join(home, "apt-called")
	for _, apt := range []string{"apt-get", "apt", "sudo"} {
		os.WriteFile(filepath.Join(fakebin, apt), []byte("#!/bin/sh\necho \"$0 $*\" >> "+aptLog+"\nexit 1\n"), 0o755)
	}
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chown", "-R", fmt.Sprintf("%d:%d", uid, gid), home).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v\n%s", err, out)
		}
	}

	script := `set -e
cd "$HOME/gonbgpu"
make install-kernel
bin/gonbgpu notebooks --out "$HOME/out" notebooks/00-setup-check.ipynb
`
	path := strings.Join([]string{fakebin, filepath.Join(home, ".local", "bin"), filepath.Dir(goCmd),
		"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}, ":")
	env := []string{"HOME=" + home, "USER=" + name, "LOGNAME=" + name, "PATH=" + path, "LANG=C.UTF-8",
		"GOPROXY=http://" + l.Addr().String(), "GONBGPU_DATA=" + filepath.Join(home, "data")}
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		// Hide Debian's dataset folder from the user's processes only: a private mount namespace.
		empty := filepath.Join(home, "empty")
		os.Mkdir(empty, 0o755)
		hide := ""
		if _, err := os.Stat(catalog.DebianFashionMNISTDir); err == nil {
			hide = "mount --bind " + empty + " " + catalog.DebianFashionMNISTDir + " && " +
				"test -z \"$(ls -A " + catalog.DebianFashionMNISTDir + ")\" && "
		}
		cmd = exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
			hide+"exec setpriv --reuid="+strconv.Itoa(uid)+" --regid="+strconv.Itoa(gid)+" --clear-groups bash -c \"$0\"", script)
	} else {
		t.Logf("running as %s, who cannot hide %s: it stays visible (the install never looks at it)", name, catalog.DebianFashionMNISTDir)
		cmd = exec.Command("bash", "-c", script)
	}
	cmd.Dir = home
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logPath := filepath.Join(t.TempDir(), "fresh-user.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start := time.Now()
	runErr := cmd.Run()
	logFile.Close()
	log, _ := os.ReadFile(logPath)
	tail := string(log)
	if len(tail) > 6000 {
		tail = tail[len(tail)-6000:]
	}
	if runErr != nil {
		t.Fatalf("as %s: make install-kernel && gonbgpu notebooks failed after %s: %v\n%s", name, time.Since(start).Round(time.Second), runErr, tail)
	}
	t.Logf("installed and ran 00-setup-check.ipynb as %s in %s", name, time.Since(start).Round(time.Second))
	if calls, err := os.ReadFile(aptLog); err == nil {
		t.Errorf("the install called apt or sudo:\n%s", calls)
	}
	nb, err := ipynb.Read(filepath.Join(home, "out", "00-setup-check.ipynb"))
	if err != nil {
		t.Fatalf("no executed notebook: %v\n%s", err, tail)
	}
	if errs := nb.Errors(); len(errs) > 0 {
		t.Errorf("00-setup-check.ipynb has errors: %v", errs)
	}
	if !strings.Contains(nb.AllText(), "gonbgpu: backend ") {
		t.Errorf("no cell said which backend it ran on")
	}
	kdir := filepath.Join(home, ".local", "share", "jupyter", "kernels", "gonbgpu")
	if _, err := os.Stat(filepath.Join(kdir, "kernel.json")); err != nil {
		t.Errorf("the kernelspec is not in the user's Jupyter folder: %v", err)
	}
}

// userGo returns the first go command on PATH that anyone may run: every folder above it searchable
// and the file executable by others (go test's own toolchain, under root's module cache, is not).
func userGo() string {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		p := filepath.Join(dir, "go")
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			continue
		}
		ok := true
		for d := filepath.Dir(p); ok; d = filepath.Dir(d) {
			di, err := os.Stat(d)
			ok = err == nil && di.Mode().Perm()&0o001 != 0
			if d == filepath.Dir(d) {
				break
			}
		}
		if ok {
			return p
		}
	}
	return ""
}
