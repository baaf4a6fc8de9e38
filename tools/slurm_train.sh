#!/usr/bin/env bash
# Training on a Slurm cluster, as mmdet's and mmseg's slurm_train.sh:
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args]
# e.g. GPUS=16 tools/slurm_train.sh dev maformer \
#        configs/maformer/mask-rcnn_maformer-s_1x_coco.py work_dirs/maformer-s
# Environment: GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS (slurm_launch.sh).
set -euo pipefail

if [ $# -lt 4 ]; then
  echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py arguments]" >&2
  exit 2
fi
TOOLS=$(cd "$(dirname "$0")" && pwd)
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
shift 4
exec "$TOOLS/slurm_launch.sh" "$TOOLS/train.py" "$PARTITION" "$JOB_NAME" \
  "$CONFIG" --work-dir="$WORK_DIR" "$@"
