#!/usr/bin/env bash
# The README's demo: generate mini-COCO (if missing), train the MAFormer-S
# Mask R-CNN on it with NPROC CPU processes (default 2), then evaluate the
# final checkpoint with tools/test.py and print its bbox and segm mAP.
#   tools/run_demo.sh            (environment variables: NPROC, WORK_DIR, PORT)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PYTHON=python
if [ -x .venv/bin/python ]; then
  PYTHON=.venv/bin/python
fi
CONFIG=configs/maformer/mask-rcnn_maformer-s_1x_mini-coco.py
NPROC=${NPROC:-2}
WORK_DIR=${WORK_DIR:-work_dirs/mask-rcnn_maformer-s_1x_mini-coco}

start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }

"$PYTHON" tools/misc/make_mini_coco.py --out data/mini_coco
echo "[demo] data ready after $(elapsed)s"

rm -f "$WORK_DIR/last_checkpoint"
tools/dist_train.sh "$CONFIG" "$NPROC" --work-dir "$WORK_DIR"
echo "[demo] training finished after $(elapsed)s"

checkpoint=$(cat "$WORK_DIR/last_checkpoint")
test_log="$WORK_DIR/test.log"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
  "$PYTHON" tools/test.py "$CONFIG" "$checkpoint" \
  --work-dir "$WORK_DIR/test" 2>&1 | tee "$test_log"
echo "[demo] evaluation finished after $(elapsed)s"

echo "[demo] $checkpoint on the mini-COCO val split:"
grep -o 'coco/\(bbox\|segm\)_mAP: [0-9.]*' "$test_log" | tail -2 | sed 's/^/[demo]   /'
echo "[demo] total wall time: $(elapsed)s"
