package browsertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gonbgpu/gonbgpu/internal/testutil"

	"github.com/chromedp/chromedp"

	"github.com/gonbgpu/gonbgpu/internal/kernelspec"
	"github.com/gonbgpu/gonbgpu/internal/kerneltest"
)

// Chromium is Debian's chromium; `make test` installs it (gonbgpu setup). No browser is ever downloaded.
const Chromium = "/usr/bin/chromium"

const notebook = "00-setup-check.ipynb"

// Timeouts: the first run of the notebook compiles Go (GoMLX included), which takes a minute on two cores.
const (
	serverStartTimeout = 90 * time.Second
	runAllTimeout      = 6 * time.Minute
	testTimeout        = 10 * time.Minute
)

// TestBrowserSetupCheck drives Debian's classic Notebook 6.4 (kept while Debian ships it) through chapter 0:
// Cell → All Output → Clear, Cell → Run All, then checks what rendered and saves a full-page screenshot.
func TestBrowserSetupCheck(t *testing.T) {
	if _, err := exec.LookPath("jupyter-notebook"); err != nil {
		t.Fatalf("jupyter-notebook is missing: `make test` installs it (apt-get install jupyter-notebook)")
	}
	root := kerneltest.Checkout()
	shot := filepath.Join(root, "out", "browser-"+strings.TrimSuffix(notebook, ".ipynb")+".png")
	if err := os.MkdirAll(filepath.Dir(shot), 0o755); err != nil {
		t.Fatal(err)
	}
	failedShot := strings.TrimSuffix(shot, ".png") + "-failed.png"
	_ = os.Remove(shot)
	_ = os.Remove(failedShot)

	data := kerneltest.Install(t)
	nbDir := t.TempDir()
	copyNotebooks(t, filepath.Join(root, "notebooks"), nbDir)

	// Registered before the server's cleanup, so it runs after the server (and its kernels) stopped.
	t.Cleanup(func() { kerneltest.NoProcessesLeft(t, filepath.Join(data, "kernels", kernelspec.Name), 2*time.Minute) })
	srv := startNotebookServer(t, data, nbDir)
	t.Logf("notebook server %s (%s)", srv.base, srv.version)

	b := newBrowser(t)
	bctx, console, browserLog := b.ctx, b.console, b.process

	// fail stops the test with everything needed to see why: the page state, the browser's console, the
	// notebook server's log (kernel logs included) and Chromium's output.
	pageLoaded := false
	fail := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if pageLoaded {
			if png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)); err == nil {
				if os.WriteFile(failedShot, png, 0o644) == nil {
					msg += "\nscreenshot of the page: " + failedShot
				}
			}
		}
		t.Fatalf("%s\n--- browser console:\n%s\n--- notebook server log (last lines):\n%s\n--- chromium output (last lines):\n%s",
			msg, tail(console.String(), 30), tail(srv.log.String(), 60), tail(browserLog.String(), 20))
	}

	// 1. Open the notebook with the token, and wait for its kernel to be started and idle.
	url := fmt.Sprintf("%s/notebooks/%s?token=%s", srv.base, notebook, srv.token)
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		fail("opening %s: %v", url, err)
	}
	pageLoaded = true
	lctx, lcancel := context.WithTimeout(bctx, 2*time.Minute)
	defer lcancel()
	if err := chromedp.Do(lctx,
		chromedp.WaitVisible(chromedp.CSS("#notebook-container .code_cell")),
		chromedp.Poll[chromedp.Void](`window.Jupyter && Jupyter.notebook && Jupyter.notebook._fully_loaded && Jupyter.notebook.kernel && Jupyter.notebook.kernel.is_connected() && document.querySelector("#kernel_indicator_icon.kernel_idle_icon") !== null`,
			chromedp.WithPollingInterval(250*time.Millisecond), chromedp.WithPollingTimeout(90*time.Second)),
	); err != nil {
		fail("the notebook page did not load with an idle kernel: %v", err)
	}

	// 2. The kernel must be gonbgpu's, as the kernel indicator in the menu bar shows it.
	indicator, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("#kernel_indicator .kernel_indicator_name")))
	if err != nil {
		fail("reading the kernel indicator: %v", err)
	}
	kernelName, err := chromedp.Run(bctx, chromedp.Evaluate[string](`Jupyter.notebook.kernel.name`))
	if err != nil {
		fail("reading the kernel name: %v", err)
	}
	if strings.TrimSpace(indicator) != kernelspec.DisplayName || kernelName != kernelspec.Name {
		fail("the notebook runs kernel %q (indicator %q), want %q (%q)", kernelName, indicator, kernelspec.Name, kernelspec.DisplayName)
	}

	// 3. Cell → All Output → Clear, so that what is checked below comes from this run, not from the
	// outputs committed with the notebook.
	if err := clickMenu(bctx, "#celllink", "#all_outputs > a", "#clear_all_output > a"); err != nil {
		fail("Cell → All Output → Clear: %v", err)
	}
	left, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#notebook-container .output_area").length`))
	if err != nil || left != 0 {
		fail("after Cell → All Output → Clear, %d output areas are left (%v)", left, err)
	}

	// 4. Cell → Run All, then wait until the kernel is idle and every code cell shows an execution count.
	start := time.Now()
	if err := clickMenu(bctx, "#celllink", "#run_all_cells > a"); err != nil {
		fail("Cell → Run All: %v", err)
	}
	var st runState
	for doneTimes := 0; doneTimes < 3; {
		st, err = chromedp.Run(bctx, chromedp.Evaluate[runState](stateJS))
		if err != nil {
			fail("reading the notebook's state: %v", err)
		}
		if st.done() {
			doneTimes++ // done three polls in a row: nothing is still arriving
		} else {
			doneTimes = 0
		}
		if time.Since(start) > runAllTimeout {
			fail("the cells did not all finish within %s: prompts %q, kernel idle %v, %d cell(s) waiting for their reply or outputs", runAllTimeout, st.Prompts, st.Idle, st.Pending)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("Run All: %d code cells ran in %s, prompts %q", len(st.Prompts), time.Since(start).Round(time.Second), st.Prompts)

	// 5. What rendered: the tensor and device tables, the check's verdict, and no error anywhere.
	var problems []string
	counts := map[string]string{
		"div.gonbgpu-tensor table":                                     "the tensor tables",
		"div.gonbgpu-devices table":                                    "the device table",
		".output_subarea.output_stdout, .output_subarea.output_stream": "stdout",
	}
	for sel, what := range counts {
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, "#notebook-container "+sel)))
		if err != nil || n == 0 {
			problems = append(problems, fmt.Sprintf("%s did not render (%s: %d, %v)", what, sel, n, err))
		}
	}
	for _, sel := range []string{".output_error", ".output_stderr"} {
		txt, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](fmt.Sprintf(`[...document.querySelectorAll("#notebook-container %s")].map(e => e.innerText)`, sel)))
		if err != nil || len(txt) > 0 {
			problems = append(problems, fmt.Sprintf("error output %s: %q %v", sel, txt, err))
		}
	}
	text, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector("#notebook-container").innerText`))
	if err != nil {
		fail("reading the page text: %v", err)
	}
	for _, want := range []string{
		"setup check: x·xᵀ is correct",
		"the gonbgpu kernel compiled and ran this cell",
		"gonbgpu: backend go",
		"square(12) = 144",
		"Memory used / total",
	} {
		if !strings.Contains(text, want) {
			problems = append(problems, fmt.Sprintf("the page does not show %q", want))
		}
	}
	if tensors, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#notebook-container div.gonbgpu-tensor")].map(e => e.innerText).join("\n")`)); !regexp.MustCompile(`(?s)x·xᵀ.*14.*32.*32.*77`).MatchString(tensors) {
		problems = append(problems, fmt.Sprintf("the x·xᵀ table does not show [[14 32] [32 77]]:\n%s", tensors))
	}

	// 6. A full-page screenshot. The classic notebook scrolls inside #site, so the viewport is first made
	// as tall as the notebook.
	height, err := chromedp.Run(bctx, chromedp.Evaluate[int](`Math.ceil(document.querySelector("#header").getBoundingClientRect().height + document.querySelector("#notebook").scrollHeight) + 40`))
	if err != nil {
		fail("measuring the page: %v", err)
	}
	if err := chromedp.Do(bctx,
		chromedp.EmulateViewport(1280, int64(min(max(height, 1000), 16000))),
		chromedp.Evaluate[chromedp.Void](`window.dispatchEvent(new Event("resize")); document.querySelector("#site").scrollTop = 0`),
		chromedp.Sleep(500*time.Millisecond),
	); err != nil {
		fail("resizing for the screenshot: %v", err)
	}
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		fail("screenshot: %v", err)
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes, %dpx tall)", shot, len(png), height)

	if len(problems) > 0 {
		fail("the executed notebook is not right:\n  %s", strings.Join(problems, "\n  "))
	}
}

// runState is what stateJS reports about the notebook.
type runState struct {
	Prompts []string `json:"prompts"` // the "In [n]:" prompt of every code cell
	Idle    bool     `json:"idle"`    // the kernel indicator shows an idle kernel
	Pending int      `json:"pending"` // code cells whose reply or whose outputs have not all arrived
}

// stateJS reads the state from the page. The prompts and the kernel indicator are what a person sees, but
// they can say "done" while the last cell's output is still on its way: the reply that numbers a cell's
// prompt and the outputs that end with the kernel's "idle" travel on different channels, in no set order.
// The page's kernel client marks each cell's request shell_done when the reply came and iopub_done when
// the kernel's "idle" for it came (after all its outputs), so both set on every cell means all arrived.
const stateJS = `({
	prompts: [...document.querySelectorAll("#notebook-container .code_cell .input_prompt")].map(e => e.innerText.trim()),
	idle: document.querySelector("#kernel_indicator_icon.kernel_idle_icon") !== null,
	pending: Jupyter.notebook.get_cells().filter(c => c.cell_type === "code").filter(c => {
		const cb = Jupyter.notebook.kernel._msg_callbacks[c.last_msg_id];
		return cb !== undefined && !(cb.shell_done && cb.iopub_done);
	}).length,
})`

var promptRe = regexp.MustCompile(`^In\s*\[(\d+)\]:$`)

// done reports whether the kernel is idle, nothing is pending, and every code cell has run (its prompt
// shows a number, not "*" for queued or running, nor " " for not run).
func (s runState) done() bool {
	if !s.Idle || s.Pending > 0 || len(s.Prompts) == 0 {
		return false
	}
	for _, p := range s.Prompts {
		if !promptRe.MatchString(strings.ReplaceAll(p, "\u00a0", " ")) {
			return false
		}
	}
	return true
}

// clickMenu opens a menu and clicks through it like a mouse would: the top entry is clicked, submenu
// entries are hovered (the classic notebook opens submenus on hover), and the last entry is clicked. It
// gives up after 30 seconds.
func clickMenu(ctx context.Context, top string, path ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(top))); err != nil {
		return fmt.Errorf("clicking %s: %w", top, err)
	}
	for i, sel := range path {
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
			return fmt.Errorf("waiting for %s: %w", sel, err)
		}
		if i < len(path)-1 {
			box, err := chromedp.Run(ctx, chromedp.Dimensions(chromedp.CSS(sel)))
			if err != nil {
				return fmt.Errorf("locating %s: %w", sel, err)
			}
			q := box.Content
			x, y := (q[0]+q[2]+q[4]+q[6])/4, (q[1]+q[3]+q[5]+q[7])/4
			if err := chromedp.Do(ctx, chromedp.MouseEvent(chromedp.MouseMoved, x, y)); err != nil {
				return fmt.Errorf("hovering %s: %w", sel, err)
			}
			continue
		}
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
			return fmt.Errorf("clicking %s: %w", sel, err)
		}
	}
	return nil
}

// server is a running Jupyter Notebook server.
type server struct {
	base, token, version string
	cmd                  *exec.Cmd
	log                  *testutil.SyncBuffer
}

// startNotebookServer starts Debian's `jupyter-notebook` (Notebook 6.4): see startServer.
func startNotebookServer(t *testing.T, dataDir, dir string) *server {
	t.Helper()
	version := ""
	if out, err := exec.Command("jupyter-notebook", "--version").Output(); err == nil {
		version = "notebook " + strings.TrimSpace(string(out))
	}
	return startServer(t, "jupyter-notebook", version, dataDir, dir, func(port int, token string) []string {
		return []string{"--no-browser", "--allow-root",
			"--ip=127.0.0.1", fmt.Sprintf("--port=%d", port), "--port-retries=0",
			"--notebook-dir=" + dir,
			"--NotebookApp.token=" + token,
			"--NotebookApp.open_browser=False",
		}
	})
}

// startServer starts a Jupyter server (exe with the arguments args gives for a port and a token) on
// 127.0.0.1 and a free port, with a random token, its root at dir, the kernelspecs of dataDir, no user
// configuration and the pure-Go backend. It is stopped when the test ends.
func startServer(t *testing.T, exe, version, dataDir, dir string, args func(port int, token string) []string) *server {
	t.Helper()
	tok := make([]byte, 24)
	if _, err := rand.Read(tok); err != nil {
		t.Fatal(err)
	}
	s := &server{token: hex.EncodeToString(tok), log: &testutil.SyncBuffer{}, version: version}
	port := freePort(t)
	s.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	jdir := t.TempDir()
	s.cmd = exec.Command(exe, args(port, s.token)...)
	s.cmd.Dir = dir
	s.cmd.Env = append(kerneltest.Env(dataDir),
		"JUPYTER_CONFIG_DIR="+filepath.Join(jdir, "config"), // no user configuration
		"JUPYTER_RUNTIME_DIR="+filepath.Join(jdir, "runtime"),
		"JUPYTERLAB_SETTINGS_DIR="+filepath.Join(jdir, "lab-settings"),
		"JUPYTERLAB_WORKSPACES_DIR="+filepath.Join(jdir, "lab-workspaces"),
		"IPYTHONDIR="+filepath.Join(jdir, "ipython"),
		"BROWSER=true",
		"GONBGPU_KERNEL_DEBUG=1",
	)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	exited := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		start := time.Now()
		s.stop(exited)
		t.Logf("%s stopped in %s", filepath.Base(exe), time.Since(start).Round(100*time.Millisecond))
	})

	deadline := time.Now().Add(serverStartTimeout)
	for {
		resp, err := http.Get(s.base + "/api/status?token=" + s.token)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-exited:
			t.Fatalf("%s exited at start (%v):\n%s", exe, s.cmd.ProcessState, tail(s.log.String(), 40))
		case <-time.After(300 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer on %s within %s:\n%s", exe, s.base, serverStartTimeout, tail(s.log.String(), 40))
		}
	}
}

// stop shuts the server down the polite way (its API, which also shuts its kernels down), then with
// SIGTERM and at last SIGKILL to its process group.
func (s *server) stop(exited chan struct{}) {
	req, _ := http.NewRequest(http.MethodPost, s.base+"/api/shutdown", nil)
	req.Header.Set("Authorization", "token "+s.token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		select {
		case <-exited:
			return
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, sig)
		}
	}
	<-exited
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// copyNotebooks copies the notebooks (only the .ipynb files) into dir, so the server's autosave never
// touches the checkout.
func copyNotebooks(t *testing.T, from, to string) {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(from, "*.ipynb"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks in %s: %v", from, err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(p)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
