#!/bin/sh
# venv.sh PYTHON VENV REQUIREMENTS: makes the virtual environment VENV with PYTHON (unless it exists) and
# installs REQUIREMENTS into it, pinned by hash. Never touches a system Python. The Makefile runs it
# (`make venv`) whenever REQUIREMENTS is newer than VENV's stamp.
set -eu
PY=${1:-python3} VENV=${2:-.venv} REQ=${3:-install/python/requirements.txt}
help() {
	echo "Get a Python 3.11 or newer with venv and pip (requirements.txt is resolved for 3.11), then run make again:" >&2
	if [ -n "${MODULESHOME:-}${LMOD_CMD:-}" ]; then
		echo "    module avail python && module load python/3.11   # a cluster's Python module" >&2
	fi
	if [ -f /etc/debian_version ]; then
		echo "    apt-get install python3-venv                        # Debian/Ubuntu, as root" >&2
	fi
	echo "    or: make venv PYTHON=/path/to/python3.11" >&2
	exit 1
}
if ! command -v "$PY" >/dev/null 2>&1; then
	echo "make venv: $PY is not on PATH." >&2
	help
fi
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
	echo "make venv: $(command -v "$PY") is $("$PY" --version 2>&1): older than 3.11." >&2
	help
fi
if [ ! -x "$VENV/bin/python" ]; then
	if ! "$PY" -m venv "$VENV"; then
		rm -rf "$VENV"
		echo "make venv: '$PY -m venv $VENV' failed." >&2
		help
	fi
fi
# pip >= 20.3 reads manylinux_2_27 wheel tags; older pips answer "no matching distribution".
if ! "$VENV/bin/python" -c 'import pip, sys; v = tuple(int(x) for x in pip.__version__.split(".")[:2]); sys.exit(v < (20, 3))' 2>/dev/null; then
	echo "make venv: the pip of $VENV ($("$VENV/bin/python" -m pip --version 2>&1)) is older than 20.3 and cannot install the pinned wheels." >&2
	help
fi
"$VENV/bin/python" -m pip install --disable-pip-version-check --require-hashes -r "$REQ"
touch "$VENV/.installed"
