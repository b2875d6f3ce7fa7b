#!/bin/sh
# compile.sh: remakes install/python/requirements.txt from requirements.in with pip-compile, every package
# (dependencies included) pinned by version and SHA-256, resolved for the python3 on PATH. Run it from the
# checkout's root after editing requirements.in. pip-tools goes into a throwaway virtual environment.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --disable-pip-version-check pip-tools
"$tmp/venv/bin/pip-compile" -q --generate-hashes --allow-unsafe --no-strip-extras --no-header --no-emit-find-links --no-emit-index-url \
	--annotation-style=line -o "$tmp/pins.txt" requirements.in
{
	sed -n '/^# --- pins ---$/q;p' requirements.txt
	echo "# --- pins ---"
	echo "# Made by install/python/compile.sh from requirements.in for $(python3 --version); do not edit by hand."
	cat "$tmp/pins.txt"
} >"$tmp/requirements.txt"
mv "$tmp/requirements.txt" requirements.txt
