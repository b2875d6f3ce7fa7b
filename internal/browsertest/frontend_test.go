package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/gonbgpu/gonbgpu/internal/kernelspec"
	"github.com/gonbgpu/gonbgpu/internal/kerneltest"
	"github.com/gonbgpu/gonbgpu/internal/testutil"
)

// browser is a headless Chromium tab, with what it logged.
type browser struct {
	ctx              context.Context
	console, process *testutil.SyncBuffer
}

// newBrowser starts Debian's Chromium (never a downloaded browser) with a profile of its own, for at most
// testTimeout; it is closed when the test ends.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(Chromium); err != nil {
		t.Fatalf("%s is missing (%v): `make test` installs it (gonbgpu setup runs apt-get install chromium)", Chromium, err)
	}
	b := &browser{console: &testutil.SyncBuffer{}, process: &testutil.SyncBuffer{}}
	profile := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(Chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1000),
		chromedp.CombinedOutput(b.process),
	)
	t.Cleanup(cancelAlloc) // waits for the browser to exit
	var cancelTab context.CancelFunc
	b.ctx, cancelTab = chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			fmt.Fprintf(b.console, "console.%s:", ev.Type)
			for _, a := range ev.Args {
				fmt.Fprintf(b.console, " %s", a.Value)
			}
			fmt.Fprintln(b.console)
		case *runtime.EventExceptionThrown:
			fmt.Fprintf(b.console, "exception: %s\n", ev.ExceptionDetails.Text)
			if ev.ExceptionDetails.Exception != nil {
				fmt.Fprintf(b.console, "  %s\n", ev.ExceptionDetails.Exception.Description)
			}
		}
	}))
	t.Cleanup(cancelTab)
	return b
}

// frontEnd is a JupyterLab-based front end: JupyterLab 4 or Notebook 7, from the checkout's .venv.
type frontEnd struct {
	name    string // for messages and screenshots
	command string // the .venv's command: "jupyter-lab" or "jupyter-notebook"
	app     string // its application class, for --APP.expose_app_in_browser
	path    string // the notebook's page, below the server's base URL
}

var (
	jupyterLab = frontEnd{name: "jupyterlab", command: "jupyter-lab", app: "LabApp", path: "/lab/tree/"}
	notebook7  = frontEnd{name: "notebook7", command: "jupyter-notebook", app: "JupyterNotebookApp", path: "/notebooks/"}
)

// TestBrowserJupyterLab drives JupyterLab 4, as Open OnDemand serves it, through what a student does: see
// frontEndSession.
func TestBrowserJupyterLab(t *testing.T) { frontEndSession(t, jupyterLab) }

// TestBrowserNotebook7 is TestBrowserJupyterLab in Notebook 7.
func TestBrowserNotebook7(t *testing.T) { frontEndSession(t, notebook7) }

// labState is what labStateJS reads from the page's application (exposed with expose_app_in_browser).
type labState struct {
	Ready   bool     `json:"ready"`   // a notebook is open, with a session
	Kernel  string   `json:"kernel"`  // its kernel's name
	Display string   `json:"display"` // the kernel's display name, as the page shows it
	ID      string   `json:"id"`      // the kernel's id
	Status  string   `json:"status"`  // "idle", "busy", …
	Counts  []int    `json:"counts"`  // each code cell's execution count (0: none)
	Running int      `json:"running"` // code cells still running or queued ("[*]")
	Prompts []string `json:"prompts"`
	Why     string   `json:"why"` // why not ready
}

const labStateJS = `(() => {
	const app = window.jupyterapp;
	const isNotebook = x => x && x.content && x.content.widgets && x.sessionContext;
	let w = app && app.shell && app.shell.currentWidget;
	if (app && !isNotebook(w)) { // the headless page may have no focus, hence no current widget
		for (const x of app.shell.widgets("main")) { if (isNotebook(x)) { w = x; break; } }
	}
	if (!w || !w.content || !w.sessionContext || !w.content.widgets) {
		return {ready: false, why: !app ? "no window.jupyterapp" : !w ? "no current widget" : "the current widget is no notebook: " + w.constructor.name};
	}
	const sc = w.sessionContext, k = sc.session && sc.session.kernel;
	const cells = w.content.widgets.filter(c => c.model.type === "code");
	const prompts = cells.map(c => (c.promptNode ? c.promptNode.textContent : "").trim());
	return {
		ready: true, kernel: k ? k.name : "", display: sc.kernelDisplayName || "", id: k ? k.id : "",
		status: k ? k.status : "", counts: cells.map(c => c.model.executionCount || 0), prompts: prompts,
		running: prompts.filter(p => p.includes("*")).length,
	};
})()`

// frontEndSession opens chapter 0 in the front end, in Chromium, and does what a student does: picks the
// Go (gonbgpu) kernel (Kernel → Change Kernel…), clears the outputs and runs every cell (Run → Run All
// Cells), and checks what rendered (the device table, the picture grid of PNGs, the SVG plot, no
// error); then adds a cell that sleeps, runs it and stops it with the toolbar's interrupt button;
// restarts the kernel from the toolbar and runs the first cell again. Screenshots go to
// out/browser-NAME-*.png. Nothing of the kernel may be left running once the server has stopped.
func frontEndSession(t *testing.T, fe frontEnd) {
	exe := kerneltest.VenvBin(t, fe.command)
	root := kerneltest.Checkout()
	outDir := filepath.Join(root, "out")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	shots, _ := filepath.Glob(filepath.Join(outDir, "browser-"+fe.name+"-*"))
	for _, s := range shots {
		_ = os.Remove(s)
	}
	data := kerneltest.Install(t)
	nbDir := t.TempDir()
	copyNotebooks(t, filepath.Join(root, "notebooks"), nbDir)

	version := ""
	if out, err := exec.Command(exe, "--version").Output(); err == nil {
		version = fe.command + " " + strings.TrimSpace(string(out))
	}
	var srv *server
	t.Cleanup(func() {
		kerneltest.NoProcessesLeft(t, filepath.Join(data, "kernels", kernelspec.Name), 2*time.Minute)
		if srv != nil { // the server's log, kernel's included, beside the screenshots
			_ = os.WriteFile(filepath.Join(outDir, "browser-"+fe.name+"-server.log"), []byte(srv.log.String()), 0o644)
		}
	})
	srv = startServer(t, exe, version, data, nbDir, func(port int, token string) []string {
		return []string{"--no-browser", "--allow-root",
			"--ServerApp.ip=127.0.0.1", fmt.Sprintf("--ServerApp.port=%d", port), "--ServerApp.port_retries=0",
			"--ServerApp.root_dir=" + nbDir,
			"--IdentityProvider.token=" + token,
			"--" + fe.app + ".expose_app_in_browser=True", // window.jupyterapp, for reading the page's state
			"--LabServerApp.extension_manager=readonly",   // no query of PyPI for extensions
			"--LabApp.news_url=None",
			"--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
		}
	})
	t.Logf("%s at %s", srv.version, srv.base)
	b := newBrowser(t)
	ctx := b.ctx

	step := 0
	shot := func(what string) {
		step++
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Logf("screenshot %s: %v", what, err)
			return
		}
		path := filepath.Join(outDir, fmt.Sprintf("browser-%s-%d-%s.png", fe.name, step, what))
		if err := os.WriteFile(path, png, 0o644); err == nil {
			t.Logf("screenshot: %s", path)
		}
	}
	pageLoaded := false
	fail := func(format string, args ...any) {
		t.Helper()
		if pageLoaded {
			shot("failed")
		}
		t.Fatalf("%s: %s\n--- browser console:\n%s\n--- server log (last lines):\n%s\n--- chromium output (last lines):\n%s",
			fe.name, fmt.Sprintf(format, args...), tail(b.console.String(), 30), tail(srv.log.String(), 60), tail(b.process.String(), 20))
	}
	state := func() labState {
		t.Helper()
		st, err := chromedp.Run(ctx, chromedp.Evaluate[labState](labStateJS))
		if err != nil {
			fail("reading the page's state: %v", err)
		}
		return st
	}
	// waitState polls the page until ok says so, three polls in a row (nothing still arriving).
	waitState := func(what string, d time.Duration, ok func(labState) bool) labState {
		t.Helper()
		end := time.Now().Add(d)
		var st labState
		for n := 0; n < 3; {
			if st = state(); ok(st) {
				n++
			} else {
				n = 0
			}
			if time.Now().After(end) {
				fail("%s: not within %s; state: %+v", what, d, st)
			}
			time.Sleep(300 * time.Millisecond)
		}
		return st
	}
	click := func(what string, sel chromedp.JSPath) {
		t.Helper()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(cctx, chromedp.WaitVisible(sel)); err != nil {
			fail("waiting for %s: %v", what, err)
		}
		// The pointer moves there first, as a mouse does: Lumino's menus act on the item under the pointer.
		box, err := chromedp.Run(cctx, chromedp.Dimensions(sel))
		if err != nil {
			fail("locating %s: %v", what, err)
		}
		q := box.Content
		x, y := (q[0]+q[2]+q[4]+q[6])/4, (q[1]+q[3]+q[5]+q[7])/4
		if err := chromedp.Do(cctx, chromedp.MouseEvent(chromedp.MouseMoved, x, y), chromedp.Click(sel)); err != nil {
			fail("clicking %s: %v", what, err)
		}
	}
	// menu opens a menu of the menu bar and clicks its entry for the first of commands it has (JupyterLab
	// and Notebook 7 name some entries' commands differently).
	menu := func(top string, commands ...string) {
		t.Helper()
		click("the "+top+" menu", chromedp.JSPath(fmt.Sprintf(
			`[...document.querySelectorAll(".lm-MenuBar-item")].find(e => e.textContent.trim() === %q)`, top)))
		list := `["` + strings.Join(commands, `", "`) + `"]`
		click(top+" → "+strings.Join(commands, " or "), chromedp.JSPath(fmt.Sprintf(
			`%s.map(c => document.querySelector('.lm-Menu li.lm-Menu-item[data-command="' + c + '"]')).find(e => e)`, list)))
	}
	toolbar := func(command string) {
		t.Helper()
		click("the toolbar's "+command, chromedp.JSPath(fmt.Sprintf(
			`[...document.querySelectorAll('.jp-NotebookPanel-toolbar [data-command=%q]')].find(e => e.offsetParent !== null)`, command)))
	}
	idle := func(st labState) bool { return st.Ready && st.Status == "idle" && st.Running == 0 }
	count := func(sel string) int {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
		if err != nil {
			fail("counting %s: %v", sel, err)
		}
		return n
	}

	// 1. Open chapter 0, and wait for its kernel to be idle.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.base+fe.path+notebook+"?token="+srv.token)); err != nil {
		fail("opening the notebook: %v", err)
	}
	pageLoaded = true
	waitState("the notebook opens with an idle kernel", 3*time.Minute, idle)

	// 2. Pick the kernel: Kernel → Change Kernel…, "Go (gonbgpu)" in the dialog's list, Select.
	menu("Kernel", "kernelmenu:change", "notebook:change-kernel")
	dialogSelect := chromedp.JSPath(`document.querySelector(".jp-Dialog select")`)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := chromedp.Do(wctx, chromedp.WaitVisible(dialogSelect))
	cancel()
	if err != nil {
		fail("the kernel picker did not open: %v", err)
	}
	options, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelector(".jp-Dialog select").options].map(o => o.textContent.trim())`))
	picked, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
		const s = document.querySelector(".jp-Dialog select");
		const o = [...s.options].find(o => o.textContent.trim() === %q);
		if (!o) return false;
		s.value = o.value;
		s.dispatchEvent(new Event("change", {bubbles: true}));
		return true;
	})()`, kernelspec.DisplayName)))
	if err != nil || !picked {
		fail("the kernel picker does not offer %q; it offers %q (%v)", kernelspec.DisplayName, options, err)
	}
	shot("kernel-picker")
	click("the picker's Select", chromedp.JSPath(`document.querySelector(".jp-Dialog .jp-Dialog-button.jp-mod-accept")`))
	st := waitState("the picked kernel is idle", 3*time.Minute, idle)
	if st.Kernel != kernelspec.Name || st.Display != kernelspec.DisplayName {
		fail("the notebook runs kernel %q (%q), want %q (%q)", st.Kernel, st.Display, kernelspec.Name, kernelspec.DisplayName)
	}

	// 3. Edit → Clear Outputs of All Cells, so that what is checked comes from this run, then Run → Run
	// All Cells.
	menu("Edit", "editmenu:clear-all", "notebook:clear-all-cell-outputs")
	if n := count(".jp-Notebook .jp-OutputArea-output"); n != 0 {
		fail("after Edit → Clear Outputs of All Cells, %d outputs are left", n)
	}
	start := time.Now()
	menu("Run", "runmenu:run-all", "notebook:run-all-cells")
	st = waitState("every cell ran", runAllTimeout, func(st labState) bool {
		if !idle(st) || len(st.Counts) == 0 {
			return false
		}
		for _, c := range st.Counts {
			if c == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("Run All Cells: %d code cells in %s, counts %v", len(st.Counts), time.Since(start).Round(time.Second), st.Counts)

	// 4. What rendered. The grid's PNGs must have decoded, and the plot's SVG must have a size.
	var problems []string
	for sel, what := range map[string]string{
		".jp-Notebook div.gonbgpu-devices table":                     "the device table",
		".jp-Notebook div.gonbgpu-tensor table":                      "the tensor tables",
		`.jp-Notebook div.gonbgpu-images img[src^="data:image/png"]`: "the picture grid's PNGs",
		".jp-Notebook div.gonbgpu-figure svg":                        "the SVG plot",
	} {
		if n := count(sel); n == 0 {
			problems = append(problems, what+" did not render ("+sel+")")
		}
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { document.querySelector(".jp-Notebook div.gonbgpu-devices").scrollIntoView(); return true })()`)); err == nil {
		time.Sleep(time.Second) // the scrolled-to outputs paint
		shot("device-table")
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { document.querySelector(".jp-Notebook div.gonbgpu-images").scrollIntoView(); return true })()`)); err != nil {
		problems = append(problems, fmt.Sprintf("scrolling to the pictures: %v", err))
	}
	time.Sleep(time.Second) // the scrolled-to outputs paint
	rendered, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]int](`(() => {
		const imgs = [...document.querySelectorAll('.jp-Notebook div.gonbgpu-images img')];
		const svg = document.querySelector('.jp-Notebook div.gonbgpu-figure svg');
		const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
		return {pngs: imgs.length, decoded: imgs.filter(i => i.complete && i.naturalWidth === 28).length,
			svgWidth: Math.round(r.width), svgHeight: Math.round(r.height)};
	})()`))
	if err != nil || rendered["pngs"] != 4 || rendered["decoded"] != 4 || rendered["svgWidth"] < 100 || rendered["svgHeight"] < 100 {
		problems = append(problems, fmt.Sprintf("the pictures and the plot did not render: %v (%v)", rendered, err))
	}
	shot("pictures-and-plot")
	if n := count(`.jp-Notebook .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]`); n > 0 {
		errs, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.innerText)`))
		problems = append(problems, fmt.Sprintf("error output: %q", errs))
	}
	// The text of every output, from the page's notebook model: the notebook renders only the cells near
	// the view (JupyterLab's windowing), so the page's text lacks the others.
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const app = window.jupyterapp;
		const nb = [...app.shell.widgets("main")].find(x => x.sessionContext && x.content && x.content.widgets);
		return nb.content.widgets.filter(c => c.model.type === "code").flatMap(c => c.model.outputs.toJSON()).map(o =>
			[].concat(o.text || [], (o.data && o.data["text/plain"]) || [], (o.data && o.data["text/html"]) || []).join("")).join("\n");
	})()`))
	if err != nil {
		fail("reading the outputs: %v", err)
	}
	for _, want := range []string{"setup check: x·xᵀ is correct", "the gonbgpu kernel compiled and ran this cell",
		"gonbgpu: backend go", "square(12) = 144", "Memory used / total"} {
		if !strings.Contains(text, want) {
			problems = append(problems, fmt.Sprintf("the outputs do not show %q", want))
		}
	}
	if len(problems) > 0 {
		fail("chapter 0 did not come out right:\n  %s", strings.Join(problems, "\n  "))
	}

	// 5. A cell that sleeps, interrupted with the toolbar's ■.
	click("the last cell", chromedp.JSPath(`[...document.querySelectorAll(".jp-Notebook .jp-Cell")].at(-1)`))
	toolbar("notebook:insert-cell-below")
	click("the new cell's editor", chromedp.JSPath(`document.querySelector(".jp-Notebook .jp-Cell.jp-mod-active .cm-content")`))
	if _, err := chromedp.Call(ctx, input.InsertText, input.InsertTextParams{
		Text: "import \"time\"\n\n%%\nfmt.Println(\"sleeping for 10 minutes\")\ntime.Sleep(10 * time.Minute)\nfmt.Println(\"woke up\")"}); err != nil {
		fail("typing the cell: %v", err)
	}
	before := state()
	sleeper := len(before.Counts) - 1 // the new cell, last of the code cells
	toolbar("notebook:run-cell-and-select-next")
	wctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
	_, err = chromedp.Run(wctx, chromedp.Poll[bool](`[...document.querySelectorAll(".jp-Notebook .jp-OutputArea-output")].some(e => e.innerText.includes("sleeping for 10 minutes"))`,
		chromedp.WithPollingInterval(250*time.Millisecond)))
	cancel()
	if err != nil {
		fail("the sleeping cell did not start: %v", err)
	}
	shot("sleeping")
	interrupted := time.Now()
	toolbar("notebook:interrupt-kernel")
	st = waitState("the interrupted cell ends", 2*time.Minute, func(st labState) bool {
		// The new cell's count (running the last cell also adds an empty one below it).
		return idle(st) && len(st.Counts) > sleeper && st.Counts[sleeper] > 0
	})
	t.Logf("the sleeping cell ended %s after the interrupt", time.Since(interrupted).Round(100*time.Millisecond))
	last, _ := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelectorAll(".jp-Notebook .jp-CodeCell")[%d].querySelector(".jp-Cell-outputArea").innerText`, sleeper)))
	if !strings.Contains(last, "signal: interrupt") || strings.Contains(last, "woke up") {
		fail("the interrupted cell's output does not say it was interrupted:\n%s", last)
	}
	shot("interrupted")

	// 6. Restart the kernel from the toolbar (and confirm), then run the first cell again. The page's
	// kernel connection outlives the restart: what it reports from then on (its status changes, the
	// execution counts of execute_input) is recorded, to tell the new kernel's work from the old's.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => {
		const app = window.jupyterapp;
		const sc = [...app.shell.widgets("main")].find(x => x.sessionContext && x.content && x.content.widgets).sessionContext;
		window.gonbgpuTest = {restarts: 0, counts: []};
		sc.statusChanged.connect((_, s) => { if (s === "restarting" || s === "autorestarting") window.gonbgpuTest.restarts++; });
		sc.iopubMessage.connect((_, m) => {
			if (m.header.msg_type === "execute_input") window.gonbgpuTest.counts.push(m.content.execution_count);
		});
		return true;
	})()`)); err != nil {
		fail("watching the kernel: %v", err)
	}
	toolbar("notebook:restart-kernel")
	click("the dialog's Restart", chromedp.JSPath(`document.querySelector(".jp-Dialog .jp-Dialog-button.jp-mod-accept")`))
	restarts := func() (int, []int) {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[struct {
			Restarts int   `json:"restarts"`
			Counts   []int `json:"counts"`
		}](`window.gonbgpuTest`))
		if err != nil {
			fail("reading what the kernel reported: %v", err)
		}
		return v.Restarts, v.Counts
	}
	waitState("the restarted kernel is idle", 3*time.Minute, func(st labState) bool { n, _ := restarts(); return idle(st) && n > 0 })
	click("the first code cell", chromedp.JSPath(`document.querySelector(".jp-Notebook .jp-CodeCell .jp-InputArea-prompt")`))
	toolbar("notebook:run-cell-and-select-next")
	st = waitState("the first cell runs again", 3*time.Minute, func(st labState) bool { _, c := restarts(); return idle(st) && len(c) == 1 })
	if _, counts := restarts(); counts[0] != 1 || st.Counts[0] != 1 {
		fail("after the restart the first cell ran as execution %v (the page shows %d), want 1: the kernel did not restart", counts, st.Counts[0])
	}
	first, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector(".jp-Notebook .jp-CodeCell .jp-Cell-outputArea").innerText`))
	if !regexp.MustCompile(`the gonbgpu kernel compiled and ran this cell`).MatchString(first) {
		fail("after the restart the first cell printed:\n%s", first)
	}
	shot("restarted")
}
