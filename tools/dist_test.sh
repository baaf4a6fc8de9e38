#!/usr/bin/env bash
# Distributed testing with torchrun: tools/dist_test.sh CONFIG CHECKPOINT NGPUS [test.py args]
# (CPU processes with gloo where there is no GPU; see dist_launch.sh).
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 CONFIG CHECKPOINT NGPUS [tools/test.py arguments]" >&2
  exit 2
fi
TOOLS=$(cd "$(dirname "$0")" && pwd)
CONFIG=$1
CHECKPOINT=$2
NGPUS=$3
shift 3
exec "$TOOLS/dist_launch.sh" "$TOOLS/test.py" "$NGPUS" "$CONFIG" "$CHECKPOINT" "$@"
