#!/bin/sh
# need-go.sh GO: checks that the go command GO is there and is Go 1.21 or newer (which downloads the
# toolchain go.mod names by itself), and otherwise says how to get one without root. The Makefile runs it
# before anything else, so a machine without Go gets these lines instead of "go: command not found".
GO=${1:-go}
arch=$(uname -m); case "$arch" in x86_64) arch=amd64;; aarch64) arch=arm64;; esac
tc=$(sed -n 's/^toolchain //p' "$(dirname "$0")/../go.mod"); tc=${tc:-go1.27.3}
help() {
	echo "Get Go (any version >= 1.21: it fetches the toolchain go.mod names, $tc, by itself), then run make again:" >&2
	if [ -n "$MODULESHOME$LMOD_CMD" ]; then
		echo "    module avail go && module load go            # the cluster's Go, if it has one" >&2
	fi
	if [ -n "$CONDA_PREFIX" ] || command -v conda >/dev/null 2>&1; then
		echo "    conda install -c conda-forge go              # into the active conda environment" >&2
	fi
	echo "    # no root needed: Go's release tarball into your home folder" >&2
	echo "    curl -LO https://go.dev/dl/$tc.linux-$arch.tar.gz" >&2
	echo "    mkdir -p \$HOME/.local && tar -C \$HOME/.local -xzf $tc.linux-$arch.tar.gz" >&2
	echo "    export PATH=\$HOME/.local/go/bin:\$PATH         # and add this line to ~/.bashrc" >&2
	exit 1
}
if ! command -v "$GO" >/dev/null 2>&1; then
	echo "make: the go command ($GO) is not on PATH." >&2
	help
fi
# The version of the go command itself, not of the toolchain it would switch to.
v=$(GOTOOLCHAIN=local "$GO" env GOVERSION 2>/dev/null | sed -n 's/^go\([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
set -- $v
if [ -z "$v" ] || [ "$1" -lt 1 ] || { [ "$1" -eq 1 ] && [ "$2" -lt 21 ]; }; then
	echo "make: $(command -v "$GO") is $(GOTOOLCHAIN=local "$GO" version 2>/dev/null || echo 'an unknown version'): too old to fetch go.mod's toolchain." >&2
	help
fi
