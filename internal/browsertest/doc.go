// Package browsertest holds the browser test of the kernel: it installs the "Go (gonbgpu)" kernelspec
// into a temporary Jupyter data dir, starts Debian's classic Jupyter Notebook server on a free local port
// with a random token, and drives headless Chromium (/usr/bin/chromium, never a downloaded browser) with
// chromedp through notebooks/00-setup-check.ipynb the way a student would: clear the outputs and run every
// cell from the Cell menu, then check what rendered and save a full-page screenshot to
// out/browser-00-setup-check.png.
//
// Run it alone with `make test-browser`; `make test` runs it with everything else, after `gonbgpu setup`
// has installed chromium.
package browsertest
