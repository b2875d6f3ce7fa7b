#!/bin/sh
# Compare gonbgpu's convolution benchmark on the pure-Go backend with PyTorch CPU at 2 threads, interleaved
# (this machine is shared, so run it a few times and take the best). Usage: internal/bench/compare.sh [rounds]
set -e
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=go1.27.3 GOEXPERIMENT=simd GOMLX_BACKEND=go GOMLX_NO_AUTO_INSTALL=1
go build -o /tmp/visionbench ./internal/cmd/visionbench
for i in $(seq "${1:-3}"); do
	echo "# round $i: $(uptime | sed 's/.*load/load/')"
	/tmp/visionbench -conv 2>/dev/null | sed 's/$/  [gonbgpu CNHW lowered]/'
	/usr/bin/python3 internal/bench/torch_conv.py --threads 2 | grep -v '^#'
done
