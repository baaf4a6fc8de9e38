#!/usr/bin/env bash
# torchrun launcher shared by dist_train.sh and dist_test.sh:
#   tools/dist_launch.sh SCRIPT NPROC [script arguments]
# NPROC processes run on each node; on a machine without CUDA they are CPU
# processes joined by gloo. Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT.
set -euo pipefail

SCRIPT=$1
NPROC=$2
shift 2

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=python
if [ -x "$ROOT/.venv/bin/python" ]; then
  PYTHON="$ROOT/.venv/bin/python"
fi

# torchrun gives each process OMP_NUM_THREADS=1 unless it is set; MKL gets
# the same (MMEngine would set 1 and warn about it in every process).
export MKL_NUM_THREADS=${MKL_NUM_THREADS:-${OMP_NUM_THREADS:-1}}

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" -m torch.distributed.run \
  --nnodes="${NNODES:-1}" \
  --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" \
  --master_port="${PORT:-29500}" \
  --nproc_per_node="$NPROC" \
  "$SCRIPT" "$@" --launcher pytorch
