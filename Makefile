# gonbgpu — a Jupyter kernel for Go with GPU tensors.
#   make run             install what is needed, then execute every notebook headless into out/
#   make test            install what is needed, then vet and run every test
#   make test-browser    run only the browser test (headless Chromium through notebooks/00-setup-check.ipynb)
#   make install-kernel  install the "Go (gonbgpu)" kernel for this user (JUPYTER_DATA_DIR, --prefix honoured)
#   make bench           print benchmark figures on the auto-chosen backend

SHELL := /bin/bash
GO ?= go
BIN := bin/gonbgpu

# The pure-Go backend's SIMD matrix products need GOEXPERIMENT=simd (about 10x faster); NVML's cgo
# headers warn about deprecations we don't use; go-xla must never try to download plugins; and the
# machine's Go toolchain is used as is.
export GOEXPERIMENT := simd
export CGO_ENABLED := 1
export CGO_CFLAGS := -O2 -g -Wno-deprecated-declarations
export GOMLX_NO_AUTO_INSTALL := 1
export GOTOOLCHAIN := local

KERNEL_FLAGS ?=
TEST_FLAGS ?= -timeout 80m

.PHONY: all build deps deps-test install-kernel uninstall-kernel run test test-browser fuzz vet bench notebooks clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/gonbgpu

deps: build
	$(BIN) setup

# What the tests need besides: chromium for the browser test.
deps-test: build
	$(BIN) setup --tests

install-kernel: deps
	$(BIN) install $(KERNEL_FLAGS)

uninstall-kernel: build
	$(BIN) uninstall $(KERNEL_FLAGS)

run: install-kernel
	$(BIN) notebooks --out out

vet:
	$(GO) vet ./...

test: deps-test vet
	$(GO) test $(TEST_FLAGS) ./...
	$(MAKE) fuzz

# Each fuzz target for a few seconds beyond its committed seed corpus (which `go test` always runs):
# hostile IDX/CIFAR files, images, notebooks and kernelspecs must never panic or allocate without bound.
FUZZTIME ?= 8s
FUZZ_TARGETS := ./vision/data:FuzzIDX ./vision/data:FuzzCIFAR ./vision/data:FuzzFolderImage \
	./kernel/spec:FuzzParse ./kernel/ipynb:FuzzParse
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; echo "fuzz $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=2s $$pkg; \
	done

# Opens notebooks/00-setup-check.ipynb in Debian's headless Chromium on a local Jupyter Notebook server,
# runs every cell from the Cell menu, checks the page and saves out/browser-00-setup-check.png.
test-browser: deps-test
	$(GO) test -count=1 -timeout 15m -v -run 'TestBrowser' ./kernel/browsertest/

bench: build
	$(BIN) bench

# Re-execute the notebooks and write their outputs back, to commit fresh results.
notebooks: install-kernel
	$(BIN) notebooks --out out --in-place

clean:
	rm -rf bin out
