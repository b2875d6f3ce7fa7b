#!/usr/bin/env bash
# One short pass of GPU checks, in two halves:
#
#   scripts/gpu-check.sh build   # here (no GPU needed): build the CLI and the test binaries into .device/,
#                                # copy Debian's Fashion-MNIST files and ../shared/bench (the PyTorch and JAX
#                                # twins) beside them, and check that .device stays under the 64 MiB carry limit
#   scripts/gpu-check.sh run     # on the GPU machine (no network, no Go needed), inside 8 minutes on one GPU:
#                                # devices (the GPU backend is required), the GPU tests on the GPU, the
#                                # data-parallel path on every GPU, a Fashion-MNIST accuracy run, the re-run
#                                # latency with a cold and a warm XLA autotuning cache, the twins if time is
#                                # left; then a summary, printed even when a part fails or runs out of time.
#
# The device tool sends the working tree: carry .device (it is git-ignored), e.g.
#   run(command="bash scripts/gpu-check.sh run", carry=[".device"], timeout_s=540)
# Everything printed also goes to $OUT/gpu-check.log when $OUT is set.
set -uo pipefail
cd "$(dirname "$0")/.."
D=.device
# Packages whose tests run on the GPU (GONBGPU_TEST_BACKEND, set to the configuration `gonbgpu devices
# --config` prints, puts conv's, resnet's and the trainer's there too).
PKGS=(gpu vision/conv vision/resnet vision/optim vision/trainer vision/gradnorm)
CARRY_LIMIT=$((64 << 20))
FASHION=/usr/share/datasets/fashion-mnist

build() {
  set -e
  . scripts/env.sh # the build environment (install/build.env) and go.mod's toolchain
  [[ -d "$D" ]] && chmod -R u+w "$D"
  rm -rf "$D" && mkdir -p "$D/stage/tests"
  go build -ldflags="-s -w" -o "$D/stage/gonbgpu" ./cmd/gonbgpu
  for p in "${PKGS[@]}"; do
    go test -c -ldflags="-s -w" -o "$D/stage/tests/$(echo "$p" | tr / _).test" "./$p"
  done
  # What travels to the device machine is limited to 64 MiB. The seven binaries share most of their code
  # (GoMLX, go-xla, the runtime): one xz stream with a dictionary larger than all of them stores it once
  # (about 17 MiB, against 58 MiB gzipped one by one).
  tar -C "$D/stage" -cf - gonbgpu tests | xz -9 --lzma2=preset=9,dict=256MiB -T1 > "$D/bins.tar.xz"
  rm -rf "$D/stage"
  if [[ -d ../shared/bench ]]; then cp -r ../shared/bench "$D/bench" && chmod -R u+w "$D/bench"; fi
  # The device machine has no network and no Debian dataset: the four gz files travel (about 30 MiB).
  if [[ -f "$FASHION/train-images-idx3-ubyte.gz" ]]; then
    mkdir -p "$D/fashion-mnist"
    cp "$FASHION"/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz "$D/fashion-mnist/"
  else
    echo "note: $FASHION not found: the accuracy run will be skipped on the device"
  fi
  local size
  size=$(du -sb "$D" | cut -f1)
  du -sh "$D"
  if ((size > CARRY_LIMIT)); then
    echo "error: $D is $size bytes, over the device tool's 64 MiB carry limit" >&2
    exit 1
  fi
  echo "built: carry .device and run: bash scripts/gpu-check.sh run"
}

# part NAME SECONDS COMMAND…: runs COMMAND under timeout, unless the run's 8-minute budget cannot hold it,
# and records its status and time for the summary.
declare -A status secs
order=()
START=$SECONDS
BUDGET=${GPU_CHECK_BUDGET:-470}
part() {
  local name=$1 limit=$2
  shift 2
  order+=("$name")
  local left=$((BUDGET - (SECONDS - START)))
  if ((left < 15)); then
    status[$name]="SKIPPED (no time left)"; secs[$name]=0; echo "== $name: skipped, no time left"; return 0
  fi
  ((limit > left)) && limit=$left
  echo "== $name (at most ${limit}s)"
  local t0=$SECONDS rc=0
  timeout --kill-after=5 "$limit" "$@" || rc=$?
  secs[$name]=$((SECONDS - t0))
  case $rc in
    0) status[$name]=ok ;;
    124|137) status[$name]="TIMEOUT after ${limit}s" ;;
    *) status[$name]="FAIL (exit $rc)" ;;
  esac
  return 0
}

summary() {
  echo
  echo "== summary ($((SECONDS - START)) s)"
  printf '%-22s %-26s %s\n' part status seconds
  for n in "${order[@]}"; do printf '%-22s %-26s %s\n' "$n" "${status[$n]}" "${secs[$n]}"; done
  grep -h "backend:" /tmp/gc-devices.txt 2>/dev/null | head -1
  grep -h "^test accuracy\|^done:" /tmp/gc-dp.txt /tmp/gc-acc.txt 2>/dev/null
  grep -h "img/s\|autotuning" /tmp/gc-rerun.txt /tmp/gc-torch.txt /tmp/gc-jax.txt 2>/dev/null
  local failed=0
  for n in "${order[@]}"; do [[ ${status[$n]} == ok ]] || failed=$((failed + 1)); done
  echo "parts not ok: $failed"
  exit $((failed > 0))
}

tests() {
  local failed=0
  for t in "$B"/tests/*.test; do
    name=$(basename "$t" .test)
    dir=${name//_//}
    if (cd "$dir" && timeout 150 "$t" -test.count=1 -test.timeout=140s > "/tmp/$name.log" 2>&1); then
      echo "ok   $name"
    else
      echo "FAIL $name"; tail -30 "/tmp/$name.log"; failed=$((failed + 1))
    fi
  done
  return $failed
}

assert_gpu_backend() {
  grep -q "backend: xla:cuda" /tmp/gc-devices.txt && ! grep -q "WARNING: running on the CPU" /tmp/gc-devices.txt
}

run() {
  local log=/dev/null
  [[ -n "${OUT:-}" ]] && log="$OUT/gpu-check.log"
  {
    # The GPU is required: a fallback to the CPU is a failure, with its reason, not a passing check.
    . scripts/env.sh # install/build.env: go-xla never downloads a plugin (GOMLX_NO_AUTO_INSTALL)
    export GONBGPU_REQUIRE_GPU=1
    # Unpacked outside the tree (about 200 MiB), so that .device stays carriable.
    B=${TMPDIR:-/tmp}/gonbgpu-check-bin
    rm -rf "$B" && mkdir -p "$B"
    tar -C "$B" -xJf "$D/bins.tar.xz" 2>/dev/null ||
      python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$D/bins.tar.xz" "$B"
    export B
    chmod +x "$B/gonbgpu" "$B"/tests/*.test
    rm -rf /tmp/gc-*.txt /tmp/gc-dp-run /tmp/gc-acc-run # a previous run's figures must not show in this summary
    trap summary EXIT
    part nvidia-smi 20 nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv
    part devices 90 bash -c "'$B/gonbgpu' devices --plugins 2>&1 | tee /tmp/gc-devices.txt; exit \${PIPESTATUS[0]}"
    export D
    export -f tests assert_gpu_backend
    part backend-is-gpu 5 bash -c assert_gpu_backend
    # The tests written for the pure-Go backend run on the backend gonbgpu chose (the CUDA plugin, linked).
    GONBGPU_TEST_BACKEND=$("$B/gonbgpu" devices --config 2>/dev/null) || true
    export GONBGPU_TEST_BACKEND
    echo "tests run on: ${GONBGPU_TEST_BACKEND:-(none: gonbgpu devices --config failed)}"
    part tests 200 bash -c tests
    local n
    n=$(nvidia-smi -L 2>/dev/null | grep -c "^GPU") || n=1
    ((n < 1)) && n=1
    if [[ -d "$D/fashion-mnist" ]]; then
      # The data-parallel path on every GPU (one is enough to catch a broken path), a short run.
      part "data-parallel-${n}gpu" 90 bash -c "'$B/gonbgpu' train --data '$D/fashion-mnist' --model resnet20 --width 0.5 --devices 0 \
        --batch $((128 * n)) --epochs 1 --limit-train 8192 --out /tmp/gc-dp-run 2>&1 | tee /tmp/gc-dp.txt; exit \${PIPESTATUS[0]}"
      # The accuracy run this budget affords: ResNet-20 on all of Fashion-MNIST, 3 epochs.
      part accuracy 150 bash -c "'$B/gonbgpu' train --data '$D/fashion-mnist' --model resnet20 --batch 256 --epochs 3 \
        --out /tmp/gc-acc-run 2>&1 | tee /tmp/gc-acc.txt; exit \${PIPESTATUS[0]}"
    else
      order+=(fashion-mnist); status[fashion-mnist]="SKIPPED (no $D/fashion-mnist)"; secs[fashion-mnist]=0
    fi
    # Re-run latency: the first step with a cold, then a warm XLA autotuning cache (fresh cache folder).
    rm -rf /tmp/gonbgpu-rerun-cache
    part rerun-latency 90 bash -c "for r in cold warm; do GONBGPU_CACHE_DIR=/tmp/gonbgpu-rerun-cache '$B/gonbgpu' bench --no-conv --steps 3 2>&1 \
      | grep -e '^train' -e 'autotuning' | head -3 | sed \"s/^/\$r: /\"; done | tee /tmp/gc-rerun.txt; grep -q '^cold: train' /tmp/gc-rerun.txt"
    if [[ -d "$D/bench" ]]; then
      part torch-twin 60 bash -c "python3 '$D/bench/torch_resnet18.py' 256 32 20 eager 2>&1 | grep RESULT | tee /tmp/gc-torch.txt; test -s /tmp/gc-torch.txt"
      part jax-twin 60 bash -c "python3 '$D/bench/jax_resnet18.py' 256 32 20 2>&1 | grep RESULT | tee /tmp/gc-jax.txt; test -s /tmp/gc-jax.txt"
    fi
  } 2>&1 | tee "$log"
}

case "${1:-}" in
  build) build ;;
  run) run ;;
  *) echo "usage: $0 build|run" >&2; exit 2 ;;
esac
