#!/usr/bin/env bash
# One sure pass of GPU checks, in two halves, with a plan to read first:
#
#   scripts/gpu-check.sh build   # here (no GPU needed): build the CLI and the test binaries into .device/,
#                                # copy Debian's Fashion-MNIST files and ../shared/bench (the PyTorch and JAX
#                                # twins) beside them, and check that .device stays under the 64 MiB carry limit
#   scripts/gpu-check.sh run     # on the GPU machine (no network, no Go needed), inside 8 minutes on one GPU:
#                                # the parts below in order, each under its limit, then a summary, printed
#                                # even when a part fails or runs out of time; when the GPU part fails, what
#                                # a person needs to fix it (see diagnose)
#   scripts/gpu-check.sh plan    # print the parts with their limits and the budget (no GPU, nothing run)
#
# The parts, by what they tell per second: the devices and the plugin check; a compile smoke test (a small
# training step compiled and run on the GPU, with a cold then a warm XLA autotuning cache: the re-run
# latency); the GPU tests; the data-parallel path on every GPU (labelled with the device count it used);
# the bench; the PyTorch and JAX twins, with the bench's settings; the accuracy run.
#
# The device tool sends the working tree: carry .device (it is git-ignored), e.g.
#   run(command="bash scripts/gpu-check.sh run", carry=[".device"], timeout_s=540)
# Everything printed also goes to $OUT/gpu-check.log when $OUT is set.
# For tests: GPU_CHECK_DIR replaces .device; logs and unpacked binaries go under $TMPDIR.
set -uo pipefail
cd "$(dirname "$0")/.."
D=${GPU_CHECK_DIR:-.device}
W=${TMPDIR:-/tmp}/gonbgpu-check # this run's logs, runs and unpacked binaries
# Packages whose tests run on the GPU (GONBGPU_TEST_BACKEND, set to the configuration `gonbgpu devices
# --config` prints, puts conv's, resnet's and the trainer's there too), most telling first.
PKGS=(gpu vision/conv vision/resnet vision/optim vision/trainer vision/gradnorm)
CARRY_LIMIT=$((64 << 20))
FASHION=/usr/share/datasets/fashion-mnist

# The whole run must fit in 8 minutes on one GPU (the device tool: 10 minutes a command, 15 a session
# with the machine's start): the parts' limits, the diagnosis and the unpacking add up to at most BUDGET.
BUDGET=${GPU_CHECK_BUDGET:-470}
UNPACK=10   # unpacking the binaries, before the first part
DIAGNOSE=25 # what a person needs to fix a failed GPU part, printed once
# name limit: the parts in the order they run.
PARTS=(
  "devices 50"
  "compile-smoke 40"
  "tests 110"
  "data-parallel 40"
  "bench 55"
  "torch-twin 35"
  "jax-twin 30"
  "accuracy 70"
)
# The bench's settings (bench.DefaultTrainOptions(true), resnet.DefaultGPUModel), which the twins repeat
# so that their figures compare like with like: a CIFAR-style ResNet-18 on 32×32×3 images, batch 256,
# NHWC activations (PyTorch: channels_last), float32 then bfloat16 (JAX's twin: float32 only).
BENCH_MODEL=resnet18
BENCH_BATCH=256
BENCH_SIZE=32
BENCH_CHANNELS=3
BENCH_STEPS=20
BENCH_LAYOUT=NHWC

limit_of() {
  local p
  for p in "${PARTS[@]}"; do
    [[ ${p% *} == "$1" ]] && { echo "${p#* }"; return; }
  done
  echo "gpu-check.sh: no part named $1" >&2
  exit 2
}

plan() {
  local total=$((UNPACK + DIAGNOSE)) p
  echo "budget $BUDGET"
  echo "reserve unpack $UNPACK"
  echo "reserve diagnose $DIAGNOSE"
  for p in "${PARTS[@]}"; do
    echo "part $p"
    total=$((total + ${p#* }))
  done
  echo "bench model=$BENCH_MODEL batch=$BENCH_BATCH size=$BENCH_SIZE channels=$BENCH_CHANNELS steps=$BENCH_STEPS layout=$BENCH_LAYOUT dtypes=float32,bfloat16"
  echo "total $total"
  if ((total > BUDGET)); then
    echo "gpu-check.sh: the parts' limits add up to $total s, over the budget of $BUDGET s" >&2
    return 1
  fi
}

build() {
  set -e
  . install/env.sh # the build environment (install/build.env) and go.mod's toolchain
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
  plan >/dev/null
  echo "built: carry .device and run: bash scripts/gpu-check.sh run"
}

# part NAME COMMAND…: runs COMMAND under NAME's limit (never more than the budget has left), and records
# its status and time for the summary; a part the budget cannot hold is skipped, saying so.
declare -A status secs label
order=()
START=$SECONDS
part() {
  local name=$1 limit
  limit=$(limit_of "$1")
  shift
  order+=("$name")
  local left=$((BUDGET - DIAGNOSE - (SECONDS - START)))
  if ((left < 10)); then
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

skip() { order+=("$1"); status[$1]="SKIPPED ($2)"; secs[$1]=0; echo "== $1: skipped ($2)"; }

summary() {
  echo
  echo "== summary ($((SECONDS - START)) s of a $BUDGET s budget)"
  printf '%-24s %-26s %s\n' part status seconds
  for n in "${order[@]}"; do printf '%-24s %-26s %s\n' "${label[$n]:-$n}" "${status[$n]}" "${secs[$n]}"; done
  grep -h "backend:" "$W/devices.txt" 2>/dev/null | head -1
  grep -h "^cold: \|^warm: " "$W/smoke.txt" 2>/dev/null
  grep -h "^ok \|^FAIL \|^NOT RUN " "$W/tests.txt" 2>/dev/null
  echo "bench and twins: $BENCH_MODEL, batch $BENCH_BATCH, ${BENCH_SIZE}x${BENCH_SIZE}x$BENCH_CHANNELS, $BENCH_LAYOUT, $BENCH_STEPS steps"
  grep -h "img/s" "$W/bench.txt" "$W/torch.txt" "$W/jax.txt" 2>/dev/null
  grep -h "^test accuracy\|^done:" "$W/dp.txt" 2>/dev/null | sed "s/^/${label[data-parallel]:-data-parallel}: /"
  grep -h "^test accuracy\|^done:" "$W/acc.txt" 2>/dev/null | sed "s/^/accuracy: /"
  local failed=0 n
  for n in "${order[@]}"; do [[ ${status[$n]} == ok ]] || failed=$((failed + 1)); done
  echo "parts not ok: $failed"
  exit $((failed > 0))
}

# tests runs each package's test binary, most telling first, within the part's limit; those the limit cut
# off are named.
tests() {
  local failed=0 t name dir
  for t in "$B"/tests/*.test; do
    name=$(basename "$t" .test)
    dir=${name//_//}
    if (cd "$dir" && timeout 60 "$t" -test.count=1 -test.timeout=55s > "$W/$name.log" 2>&1); then
      echo "ok   $name"
    else
      echo "FAIL $name"; tail -30 "$W/$name.log"; failed=$((failed + 1))
    fi
  done
  return $failed
}

# devices: what the machine and gonbgpu see; fails unless gonbgpu computes on the GPU.
devices() {
  nvidia-smi --query-gpu=index,name,compute_cap,memory.total,driver_version --format=csv 2>&1 || echo "nvidia-smi failed"
  "$B/gonbgpu" devices --plugins > "$W/devices.txt" 2>&1
  local rc=$?
  cat "$W/devices.txt"
  ((rc == 0)) && grep -q "backend: xla:cuda" "$W/devices.txt" && ! grep -q "WARNING: running on the CPU" "$W/devices.txt"
}

# diagnose prints what a person needs to fix a GPU part that failed: the plugin check with XLA's logs, the
# libraries that failed to load, what the plugins need (readelf), the nvidia/ folders found, and what JAX
# sees on the same Python.
diagnose() {
  echo "-- the plugin check with XLA's logs (TF_CPP_MIN_LOG_LEVEL=0):"
  TF_CPP_MIN_LOG_LEVEL=0 timeout 15 "$B/gonbgpu" devices --plugins 2>&1 | tail -40
  local plugins p
  plugins=$("$B/gonbgpu" devices --json 2>/dev/null |
    python3 -c 'import json, sys; [print(p["Path"]) for p in json.load(sys.stdin).get("cuda_plugins_found") or []]' 2>/dev/null)
  echo "-- libraries that failed to load:"
  grep -hi "cannot open shared object\|not found\|dlopen\|undefined symbol" "$W/devices.txt" 2>/dev/null | head -20
  for p in $plugins; do ldd "$p" 2>&1 | grep "not found" | sed "s|^|$p: |"; done
  echo "-- what the plugins need (readelf -d):"
  [[ -z $plugins ]] && echo "(no CUDA plugin found)"
  for p in $plugins; do echo "$p:"; readelf -d "$p" 2>&1 | grep -e NEEDED -e RUNPATH -e RPATH; done
  echo "-- nvidia/ folders found:"
  {
    python3 -c 'import site, sys, glob, os
dirs = site.getsitepackages() + [site.getusersitepackages()] + [p for p in sys.path if p.endswith("site-packages")]
for d in dict.fromkeys(dirs):
    for n in sorted(glob.glob(os.path.join(d, "nvidia", "*"))): print(n)' 2>&1
    ls -d "$HOME"/.local/lib/go-xla/nvidia/* 2>/dev/null
    [[ -n ${CONDA_PREFIX:-} ]] && ls "$CONDA_PREFIX"/lib/libcudart* "$CONDA_PREFIX"/lib/libcudnn* 2>/dev/null
  } | grep . || echo "(none: no site-packages/nvidia/*, ~/.local/lib/go-xla/nvidia or \$CONDA_PREFIX/lib CUDA libraries)"
  echo "-- what JAX sees on the same Python ($(command -v python3)):"
  timeout 20 python3 -c 'import jax; print("jax", jax.__version__, jax.devices())' 2>&1 | tail -5
}

# dp_label names the data-parallel part by the device count its run really used (train's "devices:" line).
dp_label() {
  local n
  n=$(sed -n 's/^devices: *\([0-9][0-9]*\) .*/\1/p' "$W/dp.txt" 2>/dev/null | head -1)
  label[data-parallel]="data-parallel-${n:-?}dev"
}

run() {
  local log=/dev/null
  [[ -n "${OUT:-}" ]] && log="$OUT/gpu-check.log"
  {
    plan | sed 's/^/plan: /' || exit 1
    # The GPU is required: a fallback to the CPU is a failure, with its reason, not a passing check.
    . install/env.sh # install/build.env: go-xla never downloads a plugin (GOMLX_NO_AUTO_INSTALL)
    export GONBGPU_REQUIRE_GPU=1
    rm -rf "$W" && mkdir -p "$W" # a previous run's figures must not show in this summary
    # Unpacked outside the tree (about 200 MiB), so that .device stays carriable.
    B=$W/bin
    mkdir -p "$B"
    tar -C "$B" -xJf "$D/bins.tar.xz" 2>/dev/null ||
      python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$D/bins.tar.xz" "$B"
    export B W D
    chmod +x "$B/gonbgpu" "$B"/tests/*.test
    trap summary EXIT
    export -f tests devices diagnose
    part devices bash -c devices
    local gpu_ok=${status[devices]}
    # The smoke test: a small training step (convolutions, dots, reductions, exp) compiled and run on the
    # GPU, first with a cold XLA autotuning cache, then a warm one: the re-run latency a student sees.
    part compile-smoke bash -c "for r in cold warm; do GONBGPU_CACHE_DIR='$W/cache' '$B/gonbgpu' bench --no-conv --model resnet20 \
      --width 0.25 --batch 32 --steps 2 2>&1 | grep -e '^train' -e 'autotuning' -e 'rror' | head -4 | sed \"s/^/\$r: /\"; done \
      | tee '$W/smoke.txt'; grep -q '^cold: train' '$W/smoke.txt' && grep -q '^warm: train' '$W/smoke.txt'"
    if [[ $gpu_ok != ok || ${status[compile-smoke]} != ok ]]; then
      echo "== diagnosis (a GPU part failed)"
      timeout "$DIAGNOSE" bash -c diagnose
    fi
    # The tests written for the pure-Go backend run on the backend gonbgpu chose (the CUDA plugin, linked).
    GONBGPU_TEST_BACKEND=$("$B/gonbgpu" devices --config 2>/dev/null) || true
    export GONBGPU_TEST_BACKEND
    echo "tests run on: ${GONBGPU_TEST_BACKEND:-(none: gonbgpu devices --config failed)}"
    part tests bash -c "tests | tee '$W/tests.txt'; exit \${PIPESTATUS[0]}"
    for t in "$B"/tests/*.test; do
      grep -q " $(basename "$t" .test)\$" "$W/tests.txt" 2>/dev/null || echo "NOT RUN $(basename "$t" .test)" >> "$W/tests.txt"
    done
    if [[ -d "$D/fashion-mnist" ]]; then
      # The data-parallel path on every GPU (one is enough to catch a broken path), a short run.
      part data-parallel bash -c "'$B/gonbgpu' train --data '$D/fashion-mnist' --model resnet20 --width 0.5 --devices 0 \
        --epochs 1 --limit-train 8192 --out '$W/dp-run' 2>&1 | tee '$W/dp.txt'; exit \${PIPESTATUS[0]}"
      dp_label
    else
      skip data-parallel "no $D/fashion-mnist"
    fi
    part bench bash -c "'$B/gonbgpu' bench --no-conv --model $BENCH_MODEL --batch $BENCH_BATCH --size $BENCH_SIZE \
      --channels $BENCH_CHANNELS --steps $BENCH_STEPS 2>&1 | tee '$W/bench.txt'; exit \${PIPESTATUS[0]}"
    if [[ -d "$D/bench" ]]; then
      part torch-twin bash -c "for m in eager bf16; do python3 '$D/bench/torch_resnet18.py' $BENCH_BATCH $BENCH_SIZE $BENCH_STEPS \$m 2>&1 \
        | grep -e RESULT -e Error | tail -2; done | tee '$W/torch.txt'; grep -q RESULT '$W/torch.txt'"
      part jax-twin bash -c "python3 '$D/bench/jax_resnet18.py' $BENCH_BATCH $BENCH_SIZE $BENCH_STEPS 2>&1 | grep -e RESULT -e Error | tail -2 \
        | tee '$W/jax.txt'; grep -q RESULT '$W/jax.txt'"
    else
      skip torch-twin "no $D/bench"
      skip jax-twin "no $D/bench"
    fi
    if [[ -d "$D/fashion-mnist" ]]; then
      # The accuracy run this budget affords: ResNet-20 on all of Fashion-MNIST, 2 epochs.
      part accuracy bash -c "'$B/gonbgpu' train --data '$D/fashion-mnist' --model resnet20 --batch 256 --epochs 2 \
        --out '$W/acc-run' 2>&1 | tee '$W/acc.txt'; exit \${PIPESTATUS[0]}"
    else
      skip accuracy "no $D/fashion-mnist"
    fi
  } 2>&1 | tee "$log"
  return "${PIPESTATUS[0]}"
}

case "${1:-}" in
  build) build ;;
  run) run ;;
  plan) plan ;;
  *) echo "usage: $0 build|run|plan" >&2; exit 2 ;;
esac
