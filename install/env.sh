# Sourced, from the checkout's root, by .ci/run, scripts/gpu-check.sh and internal/bench/compare.sh
# (`. install/env.sh`): exports the environment gonbgpu builds with and cells compile with, from its one
# source, install/build.env (which the Makefile includes and the installer puts into the kernelspec),
# and GOTOOLCHAIN from go.mod's toolchain line, the one place the Go version is written.
[ -f install/build.env ] && [ -f go.mod ] || { echo "install/env.sh: source it from the gonbgpu checkout's root" >&2; return 1; }
set -a
. ./install/build.env
set +a
GOTOOLCHAIN=$(sed -n 's/^toolchain //p' go.mod)
export GOTOOLCHAIN
