#!/usr/bin/env bash
# Interactive notebooks on a GPU node. Run it on a login node from the gonbgpu checkout:
#     bash install/slurm/notebook-srun.sh            # 1 GPU, 2 hours
#     GPUS=4 HOURS=4 bash install/slurm/notebook-srun.sh
# It asks SLURM for an interactive GPU session (srun --pty), installs the kernel if needed, starts
# Jupyter on the node, and prints the SSH tunnel to open it from your laptop. (With Open OnDemand,
# start its Jupyter app on a GPU partition instead, after `make install-kernel` once.)
# Settings from the environment: GPUS (1), HOURS (2), PARTITION (gpu), CPUS (8 per GPU), MEM (32G per GPU),
# PORT (8888 + a per-user offset), GONBGPU_DIR (this checkout).
set -euo pipefail
GPUS=${GPUS:-1}
HOURS=${HOURS:-2}
PARTITION=${PARTITION:-gpu}
CPUS=${CPUS:-$((8 * GPUS))}
MEM=${MEM:-$((32 * GPUS))G}
PORT=${PORT:-$((8888 + $(id -u) % 1000))}
GONBGPU_DIR=${GONBGPU_DIR:-$PWD}

if [[ -z "${SLURM_JOB_ID:-}" ]]; then
  # On the login node: get a node and run this same script there.
  exec srun --partition="$PARTITION" --gres="gpu:$GPUS" --cpus-per-task="$CPUS" --mem="$MEM" \
    --time="$HOURS:00:00" --pty env GONBGPU_DIR="$GONBGPU_DIR" PORT="$PORT" bash "$0"
fi

# On the compute node.
cd "$GONBGPU_DIR"
[[ -x bin/gonbgpu ]] || make build
bin/gonbgpu install >/dev/null
# Exit status 3: a GPU is there but CUDA cannot be used; the notebooks still open (on the CPU), loudly.
bin/gonbgpu devices || echo "notebook-srun: WARNING: the GPU cannot be used (see above): notebooks will run on the CPU" >&2
node=$(hostname)
echo
echo "From your laptop, open the tunnel:   ssh -N -L $PORT:$node:$PORT ${USER}@login.discovery.neu.edu"
echo "then open the http://127.0.0.1:$PORT/?token=… address Jupyter prints below, and pick \"Go (gonbgpu)\"."
exec jupyter notebook --no-browser --ip="$node" --port="$PORT" --notebook-dir="$GONBGPU_DIR/notebooks"
