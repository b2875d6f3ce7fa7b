# gonbgpu — a Jupyter kernel for Go with GPU tensors.
#   make run             install what is needed, then execute every notebook headless into out/
#   make test            install what is needed, then vet and run every test
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

.PHONY: all build deps install-kernel uninstall-kernel run test vet bench notebooks clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/gonbgpu

deps: build
	$(BIN) setup

install-kernel: deps
	$(BIN) install $(KERNEL_FLAGS)

uninstall-kernel: build
	$(BIN) uninstall $(KERNEL_FLAGS)

run: install-kernel
	$(BIN) notebooks --out out

vet:
	$(GO) vet ./...

test: deps vet
	$(GO) test $(TEST_FLAGS) ./...

bench: build
	$(BIN) bench

# Re-execute the notebooks and write their outputs back, to commit fresh results.
notebooks: install-kernel
	$(BIN) notebooks --out out --in-place

clean:
	rm -rf bin out
