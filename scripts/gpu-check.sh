#!/usr/bin/env bash
# One pass of GPU checks, in two halves:
#
#   scripts/gpu-check.sh build   # here (no GPU needed): build the CLI and the test binaries into .device/,
#                                # and copy ../shared/bench (the PyTorch and JAX twins) beside them
#   scripts/gpu-check.sh run     # on the GPU machine (no network, no Go needed): devices, GPU tests,
#                                # the GoMLX bench, the PyTorch and JAX twins, and a summary table
#
# The device tool sends the working tree: carry .device (it is git-ignored), e.g.
#   run(command="bash scripts/gpu-check.sh run", carry=[".device"], timeout_s=540)
# Everything printed also goes to $OUT/gpu-check.log when $OUT is set.
set -uo pipefail
cd "$(dirname "$0")/.."
D=.device
# Packages whose tests run on the GPU (recipe's need the Fashion-MNIST files, which the device lacks).
PKGS=(gpu vision/conv vision/resnet vision/optim vision/trainer vision/gradnorm)

build() {
  set -e
  export GOEXPERIMENT=simd CGO_ENABLED=1 CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations" GOTOOLCHAIN=go1.27.3
  [[ -d "$D" ]] && chmod -R u+w "$D"
  rm -rf "$D" && mkdir -p "$D/tests"
  # Stripped and gzipped: what travels to the device machine is limited to 64 MiB.
  go build -ldflags="-s -w" -o "$D/gonbgpu" ./cmd/gonbgpu
  for p in "${PKGS[@]}"; do
    go test -c -ldflags="-s -w" -o "$D/tests/$(echo "$p" | tr / _).test" "./$p"
  done
  gzip -9 "$D/gonbgpu" "$D"/tests/*.test
  if [[ -d ../shared/bench ]]; then cp -r ../shared/bench "$D/bench" && chmod -R u+w "$D/bench"; fi
  du -sh "$D"
  echo "built: carry .device and run: bash scripts/gpu-check.sh run"
}

run() {
  local log=/dev/null
  [[ -n "${OUT:-}" ]] && log="$OUT/gpu-check.log"
  {
    export GOMLX_NO_AUTO_INSTALL=1
    gunzip -f "$D/gonbgpu.gz" "$D"/tests/*.test.gz 2>/dev/null
    chmod +x "$D/gonbgpu" "$D"/tests/*.test
    declare -A summary
    echo "== nvidia-smi"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | head -5
    echo "== gonbgpu devices (discovery finds the CUDA plugin by itself)"
    "$D/gonbgpu" devices --plugins; summary[devices]=$?
    echo "== GPU tests (auto backend)"
    local failed=0
    for t in "$D"/tests/*.test; do
      name=$(basename "$t" .test)
      dir=${name//_//}
      if (cd "$dir" && timeout 300 "$OLDPWD/$t" -test.count=1 -test.timeout=290s > "/tmp/$name.log" 2>&1); then
        echo "ok   $name"
      else
        echo "FAIL $name"; tail -30 "/tmp/$name.log"; failed=$((failed + 1))
      fi
    done
    summary[tests]=$failed
    echo "== GoMLX bench (fp32)"
    "$D/gonbgpu" bench --no-conv --steps 50 | tee /tmp/bench-gomlx.txt
    echo "== re-run latency: first step with a cold, then a warm XLA autotuning cache (fresh cache folder)"
    rm -rf /tmp/gonbgpu-rerun-cache
    for run in cold warm; do
      GONBGPU_CACHE_DIR=/tmp/gonbgpu-rerun-cache "$D/gonbgpu" bench --no-conv --steps 3 2>&1 | grep -m1 "^train" | sed "s/^/$run: /"
    done | tee /tmp/bench-rerun.txt
    if [[ -d "$D/bench" ]]; then
      echo "== PyTorch twin"
      for mode in eager compile; do timeout 240 python3 "$D/bench/torch_resnet18.py" 256 32 50 "$mode" 2>&1 | grep RESULT; done | tee /tmp/bench-torch.txt
      echo "== JAX twin"
      timeout 240 python3 "$D/bench/jax_resnet18.py" 256 32 50 2>&1 | grep RESULT | tee /tmp/bench-jax.txt
    fi
    echo
    echo "== summary"
    printf '%-28s %s\n' "devices exit status" "${summary[devices]}" "test packages failing" "${summary[tests]}"
    grep -h "img/s" /tmp/bench-gomlx.txt /tmp/bench-rerun.txt /tmp/bench-torch.txt /tmp/bench-jax.txt 2>/dev/null
  } 2>&1 | tee "$log"
}

case "${1:-}" in
  build) build ;;
  run) run ;;
  *) echo "usage: $0 build|run" >&2; exit 2 ;;
esac
