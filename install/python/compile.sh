#!/bin/sh
# compile.sh: remakes install/python/requirements.txt from requirements.in, every package (dependencies
# included) pinned by version and SHA-256. The pins are resolved for the OLDEST Python that venv.sh accepts
# (FLOOR below), not for the python3 that runs this script: a pin resolved on 3.11.7 may need 3.11.5 and
# then fails on Debian 12's 3.11.2 or a cluster's older 3.11 module. uv's resolver takes a target Python;
# pip-compile does not. uv goes into a throwaway virtual environment. Run it from anywhere after editing
# requirements.in; install/python_test.go checks the result installs on FLOOR and on manylinux_2_28
# (RHEL 8's glibc).
set -eu
FLOOR=3.11.0
UV=uv==0.13.9
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q --disable-pip-version-check "$UV"
"$tmp/venv/bin/uv" pip compile -q --python-version "$FLOOR" --python-platform x86_64-manylinux_2_28 \
	--generate-hashes --no-strip-extras --no-header --annotation-style=line -o "$tmp/pins.txt" requirements.in
{
	sed -n '/^# --- pins ---$/q;p' requirements.txt
	echo "# --- pins ---"
	echo "# Made by install/python/compile.sh ($UV) from requirements.in for Python >= $FLOOR on x86_64 manylinux_2_28; do not edit by hand."
	cat "$tmp/pins.txt"
} >"$tmp/requirements.txt"
mv "$tmp/requirements.txt" requirements.txt
