#!/usr/bin/env bash
# The GPU check (tools/gpu_check.py): at most 10 minutes on one GPU; writes gpu-check.json
# and gpu-check.md to $OUT (or runs/gpu-check), and with --update-docs the tables into
# docs/performance.md.
#
#   tools/gpu_check.sh --cpu                 # here or in CI: every section on the CPU, small sizes
#   tools/gpu_check.sh --fetch-wheels        # here, once: what the device machine lacks, into .whl/
#   tools/gpu_check.sh [--update-docs]       # on the GPU machine
#
# On a lent device machine (Python 3.12, a CUDA build of torch, nvcc, numpy, pandas,
# matplotlib, jinja2, rich, opencv, numba; no mmengine, mmcv or mmsegmentation, no
# network) the wheels fetched here travel in .whl/ (`carry: [".whl"]`) and are
# installed into /tmp/site. mmcv 2.1.0 has no wheel for that Python and torch on PyPI:
# its source travels instead and its ops are compiled there for the CPU only
# (MMCV_WITH_OPS=1 FORCE_CUDA=0, all cores: a few minutes). mmseg needs mmcv.ops to
# import; the models timed here (MiT, LVT, MSCAN, the heads) run plain torch operators on
# the GPU and use none of mmcv's CUDA kernels. (Not yet run on a device machine: no GPU
# was lent to the session that wrote it.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
WHEELS=(mmengine==0.10.7 mmsegmentation==1.2.2 addict yapf platformdirs termcolor ftfy wcwidth prettytable
        imagecorruptions==1.1.2 'setuptools>=77,<81')  # mmcv 2.1.0's setup.py needs pkg_resources

if [ "${1:-}" = "--fetch-wheels" ]; then
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  mkdir -p .whl
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform any -d .whl "${WHEELS[@]}"
  # the source, as pip caches it (preparing its metadata needs torch and setuptools < 81: the venv's)
  .venv/bin/python -m pip download -q --no-deps --no-binary=:all: --no-build-isolation -d .whl mmcv==2.1.0
  du -sh .whl
  exit 0
fi

if [ "${1:-}" = "--cpu" ]; then
  PY=${PYTHON:-.venv/bin/python}
  [ -x "$PY" ] || PY=python3
  exec "$PY" tools/gpu_check.py "$@"
fi

PY=python3
if ! "$PY" -c 'import mmseg, mmcv.ops' 2>/dev/null; then
  [ -d .whl ] || { echo "gpu_check: mmseg is not installed and .whl/ is missing: run tools/gpu_check.sh --fetch-wheels here and carry .whl" >&2; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
  if ! "$PY" -c 'import mmcv.ops' 2>/dev/null; then
    # built with the carried setuptools (/tmp/site is on PYTHONPATH): newer ones lack pkg_resources
    echo "[gpu_check] compiling mmcv 2.1.0's ops (CPU) on $(nproc) cores" >&2
    MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=$(nproc) "$PY" -m pip install -q --no-index --no-deps \
      --no-build-isolation --target /tmp/site .whl/mmcv-2.1.0.tar.gz
  fi
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
exec "$PY" tools/gpu_check.py "$@"
