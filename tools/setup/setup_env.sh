#!/usr/bin/env bash
# Create (or reuse) the virtual environment .venv and install the whole stack
# at the versions of requirements/tested.txt: torch, mmengine, mmcv built from
# source with its ops (CUDA ops only for a CUDA torch with a CUDA toolkit),
# mmdet, mmseg, mmpretrain, torchvision matched to the torch, and this package
# (editable, extras [all,tests]). A second run finds the stamp and installs
# nothing; a run after a failed one picks up where that one stopped.
#
# Environment: PYTHON (the interpreter for the venv, default python3),
# MAX_JOBS (parallel compile jobs for mmcv, default nproc), CUDA_HOME.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/.venv"
wheels="$root/.whl"
stamp="$venv/.mmvit-setup"
log="$root/.setup.log"
here="$root/tools/setup"
want=$(cat "$root/requirements"/*.txt "$root/setup.py" "$here"/*.py "$here"/*.sh | sha1sum | cut -d' ' -f1)

fail() {
  echo "setup_env.sh: error: $*" >&2
  exit 1
}

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

python=${PYTHON:-python3}
command -v "$python" >/dev/null 2>&1 || fail "no '$python' on PATH: install Python 3.9-3.12 or set PYTHON=/path/to/python3"
"$python" -c 'import sys; sys.exit(not ((3, 9) <= sys.version_info[:2] <= (3, 12)))' ||
  fail "Python $("$python" -c 'import platform; print(platform.python_version())') is not supported: mmcv 2.1.0 and the tested stack need Python 3.9-3.12 (set PYTHON=/path/to/python3.11)"

# A venv left broken by an interrupted run (no interpreter, no pip) is made anew.
if [ -e "$venv" ] && ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  echo "setup_env.sh: $venv is incomplete; creating it again"
  rm -rf "$venv"
fi
if [ ! -e "$venv" ]; then
  "$python" -m venv "$venv" >"$log" 2>&1 ||
    { rm -rf "$venv"; fail "'$python -m venv' failed: the venv module is missing (Debian: apt-get install python3-venv); see $log"; }
fi
py="$venv/bin/python"
: >"$log"

# Quiet pip; on failure the last lines of its output and the log's path.
pip_install() {
  local what=$1
  shift
  if ! "$py" -m pip install --disable-pip-version-check -c "$root/requirements/tested.txt" "$@" >>"$log" 2>&1; then
    tail -n 5 "$log" >&2
    fail "installing $what failed (full output: $log)"
  fi
}

pip_install 'pip, setuptools, wheel, ninja' --upgrade pip 'setuptools>=70,<80.9' wheel ninja
pip_install "torch ($(grep -v '^#' "$root/requirements/torch.txt"), for Python $("$py" -c 'import platform; print(platform.python_version())') on $(uname -m))" \
  -r "$root/requirements/torch.txt" numpy

# mmcv has no wheel for torch 2.13: build the sdist against the installed torch
# (--no-build-isolation, else the build cannot see torch and skips the ops),
# once per machine: the wheel is kept in .whl/ for later venvs.
if ! "$py" -c 'import mmcv.ops' 2>/dev/null; then
  mmcv_wheel=$(ls "$wheels"/mmcv-2.1.0-*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$mmcv_wheel" ]; then
    mode=$("$py" "$here/mmcv_ops_mode.py") || fail "cannot decide how to build mmcv's ops (see the line above)"
    command -v "${CXX:-c++}" >/dev/null 2>&1 ||
      fail "no C++ compiler ('${CXX:-c++}') on PATH: mmcv's ops are compiled from source (Debian: apt-get install g++)"
    if [ "$mode" = cuda ]; then export FORCE_CUDA=1; else export FORCE_CUDA=0; fi
    echo "setup_env.sh: building mmcv 2.1.0 with $mode ops (about 20 minutes on 2 cores; log: $log)"
    mkdir -p "$wheels"
    if ! MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} "$py" -m pip wheel --disable-pip-version-check \
        --no-build-isolation --no-deps -w "$wheels" -r "$root/requirements/mmcv.txt" >>"$log" 2>&1; then
      tail -n 5 "$log" >&2
      fail "building mmcv failed (full output: $log)"
    fi
    mmcv_wheel=$(ls "$wheels"/mmcv-2.1.0-*.whl | head -n 1)
  fi
  pip_install mmcv "$mmcv_wheel"
fi

pip_install 'the OpenMMLab stack and this package' --no-build-isolation -e "$root[all,tests]"

# torchvision (mmpretrain imports it): --no-deps keeps the installed torch. PyPI
# has only CUDA builds of it, whose ops cannot load with a CPU torch; then the
# environment gets tools/setup/torchvision_cpu.py (see docs/torchvision_cpu.md).
pip_install torchvision --no-deps -r "$root/requirements/torchvision.txt"
"$py" "$here/torchvision_cpu.py" install >>"$log" 2>&1 ||
  { tail -n 5 "$log" >&2; fail "torchvision does not import with this torch (full output: $log)"; }
"$py" -c 'import torchvision' 2>>"$log" ||
  fail "'import torchvision' still fails (full output: $log)"

echo "$want" >"$stamp"
echo "setup_env.sh: $venv is ready"
