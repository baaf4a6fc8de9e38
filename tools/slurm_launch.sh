#!/usr/bin/env bash
# Run SCRIPT (tools/train.py or tools/test.py) with one Slurm task per GPU:
#   tools/slurm_launch.sh SCRIPT PARTITION JOB_NAME [SCRIPT arguments]
# as mmdet's and mmseg's slurm_*.sh do. Environment: GPUS (tasks in all,
# default 8), GPUS_PER_NODE (default min(GPUS, 8)), CPUS_PER_TASK (default
# 5), SRUN_ARGS (extra srun options, e.g. "--quotatype=auto").
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 SCRIPT PARTITION JOB_NAME [script arguments]" >&2
  exit 2
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCRIPT=$1
PARTITION=$2
JOB_NAME=$3
shift 3
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-$((GPUS < 8 ? GPUS : 8))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
PYTHON=python
[ -x "$ROOT/.venv/bin/python" ] && PYTHON="$ROOT/.venv/bin/python"
# SRUN_ARGS is split into words on purpose: it holds several srun options.
# shellcheck disable=SC2086
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec srun \
  --partition="$PARTITION" --job-name="$JOB_NAME" \
  --gres="gpu:$GPUS_PER_NODE" --ntasks="$GPUS" \
  --ntasks-per-node="$GPUS_PER_NODE" --cpus-per-task="$CPUS_PER_TASK" \
  --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
  "$PYTHON" -u "$SCRIPT" "$@" --launcher=slurm
