#!/usr/bin/env bash
# Testing on a Slurm cluster, as mmdet's and mmseg's slurm_test.sh:
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args]
# Environment: GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS (slurm_launch.sh).
set -euo pipefail

if [ $# -lt 4 ]; then
  echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py arguments]" >&2
  exit 2
fi
TOOLS=$(cd "$(dirname "$0")" && pwd)
PARTITION=$1
JOB_NAME=$2
shift 2
exec "$TOOLS/slurm_launch.sh" "$TOOLS/test.py" "$PARTITION" "$JOB_NAME" "$@"
