#!/bin/sh
# gonbgpu's benchmark on the pure-Go backend beside PyTorch CPU at 2 threads, from the same run, interleaved
# (run it a few times on a quiet machine and take the best of each). Usage: internal/bench/compare.sh [rounds]
# Needs Debian's python3-torch for the PyTorch lines (the scripts beside this one).
set -e
cd "$(dirname "$0")/../.."
. install/env.sh # the build environment (install/build.env) and go.mod's toolchain
export GOMLX_BACKEND=go
go build -o /tmp/gonbgpu-bench ./cmd/gonbgpu
for i in $(seq "${1:-3}"); do
	echo "# round $i: $(uptime | sed 's/.*load/load/')"
	/tmp/gonbgpu-bench bench 2>/dev/null | sed 's/$/  [gonbgpu]/'
	/usr/bin/python3 bench/torch_conv.py --threads 2 | grep -v '^#'
	/usr/bin/python3 bench/torch_resnet20.py --threads 2 | grep -v '^#'
done
