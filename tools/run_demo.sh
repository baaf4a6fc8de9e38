#!/usr/bin/env bash
# The README's demos: generate the bundled data set CONFIG trains on (if
# missing), train CONFIG with NPROC CPU processes (default 2), evaluate the
# final checkpoint with tools/test.py, print its metrics, draw its predictions
# on a few val images (--show-dir) and the training curves
# (tools/misc/demo_figures.py), and print where they are and the wall time.
#   tools/run_demo.sh [CONFIG]   (environment variables: NPROC, WORK_DIR, PORT, SHOW)
# CONFIG defaults to the MAFormer-S Mask R-CNN on mini-COCO; any
# *_mini-coco.py or *_mini-ade20k.py config works.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PYTHON=python
if [ -x .venv/bin/python ]; then
  PYTHON=.venv/bin/python
fi
CONFIG=${1:-configs/maformer/mask-rcnn_maformer-s_1x_mini-coco.py}
NPROC=${NPROC:-2}
WORK_DIR=${WORK_DIR:-work_dirs/$(basename "$CONFIG" .py)}

case "$CONFIG" in
  *_mini-coco.py)
    generator=make_mini_coco.py data=data/mini_coco split=mini-COCO
    metrics='coco/\(bbox\|segm\)_mAP: [0-9.]*' ;;
  *_mini-ade20k.py)
    generator=make_mini_ade20k.py data=data/mini_ade20k split=mini-ADE20K
    metrics='mIoU: [0-9.]*' ;;
  *)
    echo "[demo] $CONFIG trains on no bundled set (*_mini-coco.py or" \
      "*_mini-ade20k.py)" >&2
    exit 2 ;;
esac

start=$(date +%s)
elapsed() { echo $(( $(date +%s) - start )); }

"$PYTHON" "tools/misc/$generator" --out "$data"
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

echo "[demo] $checkpoint on the $split validation split:"
grep -o "$metrics" "$test_log" | sort -u | sed 's/^/[demo]   /'

# Pictures of the predictions on the first SHOW val images (default 6), in a
# second, short run so that the metrics above cover the whole split.
show_dir="$ROOT/$WORK_DIR/predictions"
rm -rf "$show_dir"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" \
  "$PYTHON" tools/test.py "$CONFIG" "$checkpoint" \
  --work-dir "$WORK_DIR/show" --show-dir "$show_dir" \
  --cfg-options "test_dataloader.dataset.indices=${SHOW:-6}" \
  default_hooks.visualization.interval=1 \
  >"$WORK_DIR/show.log" 2>&1 || { tail -n 20 "$WORK_DIR/show.log" >&2; exit 1; }
pictures=$(find "$show_dir" -type f \( -name '*.png' -o -name '*.jpg' \) | sort)
[ -n "$pictures" ] || { echo "[demo] no pictures in $show_dir (log: $WORK_DIR/show.log)" >&2; exit 1; }
echo "[demo] predictions on $(echo "$pictures" | wc -l) val images drawn in" \
  "$(dirname "$(echo "$pictures" | head -n 1)")/"
figures=$("$PYTHON" tools/misc/demo_figures.py "$WORK_DIR")
echo "[demo] loss and validation curves, predictions:" $figures
echo "[demo] total wall time: $(elapsed)s"
