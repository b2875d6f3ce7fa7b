# gonbgpu — a Jupyter kernel for Go with GPU tensors.
#   make run             install what is needed, then execute every notebook headless into out/
#   make test            install what is needed, then vet and run every test (and the race target)
#   make test-xla        the computing packages' tests on XLA's CPU plugin (make test runs it)
#   make race            the race detector over the CLI and the trainer
#   make test-browser    run only the browser tests: JupyterLab 4, Notebook 7 (pinned, from .venv) and Debian's
#                        Notebook 6.4, in headless Chromium, through notebooks/00-setup-check.ipynb
#   make install-kernel  install the "Go (gonbgpu)" kernel for this user (JUPYTER_DATA_DIR, --prefix honoured);
#                        needs only Go and Jupyter on PATH: no root, no apt, no dataset
#   make bench           print benchmark figures on the auto-chosen backend
#   make venv            the checkout's Python environment (.venv): install/python/requirements.txt,
#                        pinned by hash (Jupyter, JupyterLab 4, Notebook 7, papermill, jupyter_kernel_test,
#                        XLA's CPU PJRT plugin, …); never a system Python

SHELL := /bin/bash
GO ?= go
BIN := bin/gonbgpu

# The environment everything here builds with, and cells compile with: install/build.env, the one place
# it is written (each variable with why it is there); the installer puts the same into the kernelspec.
# Every name in it is exported. The Go toolchain is go.mod's (1.27.3): any Go >= 1.21 on PATH fetches it
# once through the module proxy.
include install/build.env
export $(shell sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' install/build.env)
export GOTOOLCHAIN := $(shell sed -n 's/^toolchain //p' go.mod)

KERNEL_FLAGS ?=
TEST_FLAGS ?= -timeout 80m

.PHONY: all check-go build venv deps deps-test install-kernel uninstall-kernel run test test-xla race test-browser fuzz vet bench bench-cells notebooks clean

all: build

# Go missing or older than 1.21 (which cannot fetch go.mod's toolchain): say how to get it, without root.
check-go:
	@install/need-go.sh $(GO)

build: check-go
	$(GO) build -o $(BIN) ./cmd/gonbgpu

# The checkout's own virtual environment, made with the python3 on PATH (PYTHON=… picks another) and
# filled from install/python/requirements.txt with `pip install --require-hashes`; remade when that file
# changes. gonbgpu finds the packages in it by itself (the XLA CPU plugin: see README, "Backends"). The
# tests that run Jupyter use it (internal/kerneltest's Python, the JupyterLab 4 and Notebook 7 browser
# tests) and fail, saying so, without it; `make test` and `make test-browser` make it first.
PYTHON ?= python3
VENV := .venv
PY_REQUIREMENTS := install/python/requirements.txt
venv: $(VENV)/.installed
$(VENV)/.installed: $(PY_REQUIREMENTS) install/python/venv.sh
	@sh install/python/venv.sh $(PYTHON) $(VENV) $(PY_REQUIREMENTS)

# `make run` and `make test` only: as root on Debian/Ubuntu, apt-get installs the system packages they use
# (this machine, CI); elsewhere it lists what is missing and the commands for this kind of system.
deps: build venv
	$(BIN) setup

# What the tests need besides: chromium for the browser test.
deps-test: build venv
	$(BIN) setup --tests

# Never apt-get, never a dataset: what an ordinary user on a cluster's login node can run.
install-kernel: build venv
	$(BIN) install --no-apt $(KERNEL_FLAGS)

uninstall-kernel: build
	$(BIN) uninstall $(KERNEL_FLAGS)

run: deps install-kernel
	$(BIN) notebooks --out out

vet:
	$(GO) vet ./...

test: deps-test vet
	$(GO) test $(TEST_FLAGS) ./...
	$(MAKE) test-xla
	$(MAKE) race
	$(MAKE) fuzz

# The packages that compute, a second time on XLA's CPU plugin (the first `go test ./...` runs them on the
# pure-Go backend): the same graphs through StableHLO, XLA's compiler and PJRT, as on a GPU, and their
# multi-device tests on 4 XLA CPU devices (a test that needs several devices skips on pure Go, saying so).
# Needs `make venv`'s plugin: without it, each test fails with the plugin's install message.
XLA_TEST_PKGS := ./vision/... ./internal/xlacpu
test-xla: check-go venv
	GONBGPU_TEST_BACKEND=xla:cpu $(GO) test $(TEST_FLAGS) $(XLA_TEST_PKGS)

# `go test -race` over the trainer and the CLI; the CLI tests then build the gonbgpu binary they run with
# -race too (cmd/gonbgpu/race_test.go), so train.go's signal handling and the trainer's goroutines in it
# are raced, and a race report on a run's stderr fails its test.
# RACE_GCFLAGS: -race turns on the compiler's checkptr checks, and gomlx/compute's AVX-512 matrix products
# (internal/gobackend/dot/matmul/avx512) do pointer arithmetic that checkptr rejects: "fatal error: checkptr:
# pointer arithmetic result points to invalid allocation" at the first training step on a CPU with AVX-512.
# That is upstream code, not ours: checkptr is off for github.com/gomlx/compute/... only (still true with
# compute v0.1.14; -d=checkptr=0 for all packages is not needed).
# RACE_SKIP: a race-built binary trains some 20x slower, and the whole CLI package then takes 15 minutes
# on 2 cores; these four tests are 13 of them (75 s to 4.5 minutes each): they train several epochs, and
# resume. Their code paths are raced by the others all the same: TestTrainSIGINT stops a run mid-epoch by
# a signal, checkpoints and exits, and TestTrainFolderSkipBad, TestTrainInitFrom and TestTrainPretrained
# train whole epochs (evaluation, checkpoint, history). Every other test, and any new one, is raced.
# TestBenchCompare times the pure-Go convolutions and training step (a race-built binary runs them some 20x
# slower: minutes of timing loops, and no goroutines of ours beyond the trainer's, raced elsewhere).
# `make race` takes 4 minutes on 2 cores from an empty build cache (half of it building with -race).
RACE_GCFLAGS := -gcflags=github.com/gomlx/compute/...=-d=checkptr=0
RACE_SKIP := ^(TestTrainSIGTERMAndResume|TestTrainSIGKILLLosesAtMostAnEpoch|TestTrainDivergence|TestTrainResumeOtherBatch|TestBenchCompare)$$
race: check-go
	$(GO) test -race $(RACE_GCFLAGS) $(TEST_FLAGS) ./vision/trainer
	$(GO) test -race $(RACE_GCFLAGS) $(TEST_FLAGS) -skip '$(RACE_SKIP)' ./cmd/gonbgpu

# Each fuzz target for a few seconds beyond its committed seed corpus (which `go test` always runs):
# hostile IDX/CIFAR files, images, notebooks and kernelspecs must never panic or allocate without bound.
# Budgets are execution counts (~5-10 s each on 2 cores), not durations: with a duration, Go 1.26's fuzz
# coordinator can report a spurious "context deadline exceeded" failure when the time runs out
# (golang/go#75804). FUZZTIME=30s (say) fuzzes longer by time, for local runs.
FUZZTIME ?=
FUZZ_TARGETS := ./vision/data:FuzzIDX:60000 ./vision/data:FuzzCIFAR:60000 ./vision/data:FuzzFolderImage:15000 \
	./internal/kernelspec:FuzzParse:200000 ./internal/ipynb:FuzzParse:200000 ./vision/trainer:FuzzHistoryJSON:20000 \
	./gpu/platform/memlimit:FuzzParse:200000 ./vision/pretrained:FuzzParse:5000
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; budget=$${rest##*:}x; \
		if [ -n "$(FUZZTIME)" ]; then budget=$(FUZZTIME); fi; \
		echo "fuzz $$pkg $$name ($$budget)"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$$budget -fuzzminimizetime=200x $$pkg; \
	done

# Opens notebooks/00-setup-check.ipynb in Debian's headless Chromium in three front ends on local servers:
# JupyterLab 4 and Notebook 7 from .venv (pick the kernel, Run All Cells, check the device table, the PNG
# picture grid and the SVG plot, interrupt a sleeping cell and restart the kernel from the toolbar;
# screenshots and the server's log in out/browser-jupyterlab-*, out/browser-notebook7-*) and Debian's
# Notebook 6.4 (out/browser-00-setup-check.png). About 2.5 minutes on 2 cores.
test-browser: deps-test
	$(GO) test -count=1 -timeout 15m -v -run 'TestBrowser' ./internal/browsertest/

bench: build
	$(BIN) bench

# What a new cell costs through the installed kernel: a plain Go cell, one that shows a tensor with package
# kernel (target: within 3× the plain one), one that imports package gpu. About a minute.
bench-cells: deps-test
	$(GO) test -count=1 -run '^$$' -bench CellCost -benchtime 5x ./internal/kerneltest/

# Re-execute the notebooks and write their outputs back, to commit fresh results.
notebooks: deps install-kernel
	$(BIN) notebooks --out out --in-place

clean:
	rm -rf bin out
