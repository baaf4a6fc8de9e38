#!/usr/bin/env bash
# Create (or reuse) the virtual environment at .venv and install the whole stack:
# torch 2.13, mmengine, mmcv 2.1.0 built from source with its ops, mmdet, mmseg, mmpretrain
# and this package (editable). A second run finds the stamp and installs nothing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
stamp="$venv/.mmvit-setup"
want=$(cat "$root/requirements"/*.txt "$root/setup.py" "$0" | sha1sum | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet)

"${pip[@]}" --upgrade pip 'setuptools>=70,<82' wheel ninja
"${pip[@]}" -r "$root/requirements/torch.txt"

# mmcv has no wheel for torch 2.13: build the sdist against the installed torch. Without
# --no-build-isolation the build cannot see torch and silently skips the compiled ops.
if ! "$venv/bin/python" -c 'import mmcv.ops' 2>/dev/null; then
  if command -v nvcc >/dev/null 2>&1; then
    export FORCE_CUDA=1
  fi
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
    "${pip[@]}" --no-build-isolation -r "$root/requirements/mmcv.txt"
fi

"${pip[@]}" -r "$root/requirements/runtime.txt" -r "$root/requirements/tests.txt"
# mmpretrain imports torchvision. --no-deps keeps the installed torch (CPU or
# CUDA); with a CPU torch its compiled ops cannot load and
# mmvit_backbones.compat makes the rest importable.
"${pip[@]}" --no-deps -r "$root/requirements/torchvision.txt"
"${pip[@]}" --no-build-isolation --no-deps -e "$root"

echo "$want" > "$stamp"
