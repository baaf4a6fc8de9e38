#!/usr/bin/env bash
# The segmentation demo: generate mini-ADE20K (if missing), train CONFIG on it
# with NPROC CPU processes (default 2), then evaluate the final checkpoint
# with tools/test.py and print its mIoU and the wall time.
#   tools/run_seg_demo.sh [CONFIG]   (environment variables: NPROC, WORK_DIR, PORT)
# CONFIG defaults to the MixFormer-B1 Semantic FPN; any *_mini-ade20k.py works.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PYTHON=python
if [ -x .venv/bin/python ]; then
  PYTHON=.venv/bin/python
fi
CONFIG=${1:-configs/mixformer/fpn_mixformer-b1_4xb4-80k_mini-ade20k.py}
NPROC=${NPROC:-2}
WORK_DIR=${WORK_DIR:-work_dirs/$(basename "$CONFIG" .py)}

start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }

"$PYTHON" tools/misc/make_mini_ade20k.py --out data/mini_ade20k
echo "[seg-demo] data ready after $(elapsed)s"

rm -f "$WORK_DIR/last_checkpoint"
tools/dist_train.sh "$CONFIG" "$NPROC" --work-dir "$WORK_DIR"
echo "[seg-demo] training finished after $(elapsed)s"

checkpoint=$(cat "$WORK_DIR/last_checkpoint")
test_log="$WORK_DIR/test.log"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
  "$PYTHON" tools/test.py "$CONFIG" "$checkpoint" \
  --work-dir "$WORK_DIR/test" 2>&1 | tee "$test_log"
echo "[seg-demo] evaluation finished after $(elapsed)s"

echo "[seg-demo] $checkpoint on the mini-ADE20K validation split:"
grep -o 'mIoU: [0-9.]*' "$test_log" | tail -1 | sed 's/^/[seg-demo]   /'
echo "[seg-demo] total wall time: $(elapsed)s"
