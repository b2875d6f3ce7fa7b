// Package browsertest holds the browser tests of the kernel. Each installs the "Go (gonbgpu)" kernelspec
// into a temporary Jupyter data dir, starts a Jupyter server on a free local port with a random token, and
// drives Debian's headless Chromium (/usr/bin/chromium, never a downloaded browser) with chromedp through
// notebooks/00-setup-check.ipynb the way a student would, saving screenshots in out/:
//
//   - TestBrowserJupyterLab and TestBrowserNotebook7: JupyterLab 4 (what Open OnDemand serves) and
//     Notebook 7, from the checkout's .venv (install/python/requirements.txt, pinned). Pick the kernel
//     (Kernel → Change Kernel…), clear the outputs, Run → Run All Cells, check the device table, the
//     picture grid of PNGs and the SVG plot rendered and no error showed; add a cell that sleeps and
//     stop it with the toolbar's interrupt button; restart the kernel from the toolbar and run the first
//     cell again. out/browser-jupyterlab-*.png, out/browser-notebook7-*.png, and each server's log.
//   - TestBrowserSetupCheck: Debian's classic Notebook 6.4, kept while Debian ships it: clear the outputs
//     and run every cell from the Cell menu, check the page, out/browser-00-setup-check.png.
//
// After each, no process of the kernel may be left running. Run them alone with `make test-browser`;
// `make test` runs them with everything else, after `gonbgpu setup` has installed chromium.
package browsertest
