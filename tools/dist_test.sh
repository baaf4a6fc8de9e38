#!/usr/bin/env bash
# Distributed testing with torchrun: tools/dist_test.sh CONFIG CHECKPOINT NGPUS [test.py args]
# NGPUS processes run on each node; on a machine without CUDA they are CPU
# processes joined by gloo. Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 CONFIG CHECKPOINT NGPUS [tools/test.py arguments]" >&2
  exit 2
fi
CONFIG=$1
CHECKPOINT=$2
NGPUS=$3
shift 3

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=python
if [ -x "$ROOT/.venv/bin/python" ]; then
  PYTHON="$ROOT/.venv/bin/python"
fi

PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" -m torch.distributed.run \
  --nnodes="${NNODES:-1}" \
  --node_rank="${NODE_RANK:-0}" \
  --master_addr="${MASTER_ADDR:-127.0.0.1}" \
  --master_port="${PORT:-29500}" \
  --nproc_per_node="$NGPUS" \
  "$ROOT/tools/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
