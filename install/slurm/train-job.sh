#!/usr/bin/env bash
# The body shared by the train-*.sbatch templates: trains a model with `gonbgpu train` on the GPUs SLURM
# gave this job, resuming from the last checkpoint if the job was requeued or resubmitted.
#
# Settings come from the environment (export them before sbatch, or pass --export=ALL,MODEL=…):
#   GONBGPU_DIR  the gonbgpu checkout (default: the folder sbatch was run from)
#   DATASET      fashion-mnist | cifar10 | folder     (default fashion-mnist)
#   DATA         dataset folder (default: the embedded Fashion-MNIST, or required for cifar10/folder)
#   MODEL        resnet18 | resnet34 | resnet50 | resnet20 | … (default resnet18)
#   EPOCHS       (default 10)   BATCH  global batch size (default 256)   LR  (default: the model's)
#   OUT          output folder (default $GONBGPU_DIR/runs/$MODEL-$DATASET, the same for every
#                submission, so a resubmitted job resumes)
#   EXTRA_ARGS   more flags for gonbgpu train
#   GONBGPU_REQUIRE_GPU  1 (default): stop at once, with the reason, when the GPU cannot be used, instead
#                of training for hours on the CPU; 0 allows the CPU
# SIGTERM (sent by SLURM before the time limit, see --signal in the templates) makes gonbgpu write a
# checkpoint and exit; resubmitting the same script with the same OUT continues the run.
set -euo pipefail

GONBGPU_DIR=${GONBGPU_DIR:-${SLURM_SUBMIT_DIR:-$PWD}}
DATASET=${DATASET:-fashion-mnist}
MODEL=${MODEL:-resnet18}
EPOCHS=${EPOCHS:-10}
BATCH=${BATCH:-256}
OUT=${OUT:-$GONBGPU_DIR/runs/$MODEL-$DATASET}
GONBGPU=${GONBGPU:-$GONBGPU_DIR/bin/gonbgpu}

if [[ ! -x "$GONBGPU" ]]; then
  echo "train-job: $GONBGPU not found: run 'make build' in $GONBGPU_DIR first (on a login node)" >&2
  exit 2
fi

# A GPU job trains on the GPU or stops at once, saying why (no plugin, a driver too old for it, …).
export GONBGPU_REQUIRE_GPU=${GONBGPU_REQUIRE_GPU:-1}
# CUDA numbers GPUs the way NVML and SLURM do (its default, FASTEST_FIRST, may not on mixed nodes).
export CUDA_DEVICE_ORDER=${CUDA_DEVICE_ORDER:-PCI_BUS_ID}

args=(train --dataset "$DATASET" --model "$MODEL" --epochs "$EPOCHS" --batch "$BATCH" --out "$OUT" --resume)
[[ -n "${DATA:-}" ]] && args+=(--data "$DATA")
[[ -n "${LR:-}" ]] && args+=(--lr "$LR")
# The GPUs of this job: SLURM sets CUDA_VISIBLE_DEVICES; gonbgpu trains on all of them.
[[ -n "${GPUS:-}" ]] && args+=(--devices "$GPUS")
# shellcheck disable=SC2206
[[ -n "${EXTRA_ARGS:-}" ]] && args+=($EXTRA_ARGS)

echo "train-job: job ${SLURM_JOB_ID:-none} on ${SLURMD_NODENAME:-$(hostname)}, GPUs ${CUDA_VISIBLE_DEVICES:-none}"
# The backend and devices in the job's log; with GONBGPU_REQUIRE_GPU=1 this fails fast on a broken setup.
"$GONBGPU" devices || { code=$?; echo "train-job: no usable GPU (see above); GONBGPU_REQUIRE_GPU=0 would train on the CPU" >&2; exit "$code"; }
echo "train-job: $GONBGPU ${args[*]}"
# exec: gonbgpu itself receives SLURM's SIGTERM, checkpoints, and exits cleanly.
exec "$GONBGPU" "${args[@]}"
