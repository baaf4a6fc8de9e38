#!/usr/bin/env bash
# The GPU check in one command (docs/benchmark.md, "GPU check"): installs the
# wheel set built by tools/gpu_check/wheels.py (default .whl/gpu) offline into
# a temporary folder put on PYTHONPATH, then runs tools/gpu_check/check.py
# with the interpreter's own torch (CUDA mode when it sees a GPU). Options are
# passed to check.py (--cpu forces CPU mode). The report (gpu_check.md,
# gpu_check.json) and this run's log go to $OUT when set (the device tool
# returns what is written there), else work_dirs/gpu_check/.
#
# Not a venv: the GPU machine's python3 is itself a venv, and a venv made from
# it with --system-site-packages would see the base interpreter's packages,
# not its torch. pip --target keeps the carried wheels apart all the same.
#
# Environment: PYTHON (default python3), GPU_CHECK_WHEELS (the set's folder).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
wheels=${GPU_CHECK_WHEELS:-$root/.whl/gpu}
python=${PYTHON:-python3}
out=${OUT:-$root/work_dirs/gpu_check}

if [ ! -f "$wheels/manifest.json" ]; then
  echo "run.sh: error: no wheel set in $wheels: build it first with" \
    "'.venv/bin/python tools/gpu_check/wheels.py' (needs the package index)" >&2
  exit 2
fi
site=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check_site.XXXXXX")
trap 'rm -rf "$site"' EXIT
mkdir -p "$out"

"$python" -m pip install --disable-pip-version-check --quiet --no-index \
  --no-deps --no-compile --target "$site" "$wheels"/*.whl
set +e
PYTHONPATH=$site PYTHONUNBUFFERED=1 "$python" "$root/tools/gpu_check/check.py" \
  --wheels "$wheels" --site "$site" --out "$out" "$@" 2>&1 | tee "$out/gpu_check.log"
status=${PIPESTATUS[0]}
set -e
exit "$status"
