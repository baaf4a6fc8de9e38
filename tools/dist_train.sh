#!/usr/bin/env bash
# Distributed training with torchrun: tools/dist_train.sh CONFIG NGPUS [train.py args]
# (CPU processes with gloo where there is no GPU; see dist_launch.sh).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 CONFIG NGPUS [tools/train.py arguments]" >&2
  exit 2
fi
TOOLS=$(cd "$(dirname "$0")" && pwd)
CONFIG=$1
NGPUS=$2
shift 2
exec "$TOOLS/dist_launch.sh" "$TOOLS/train.py" "$NGPUS" "$CONFIG" "$@"
