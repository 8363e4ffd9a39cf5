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
  [ -x .venv/bin/python ] || { echo "gpu_check: --fetch-wheels needs the project's .venv (torch, setuptools<81) to \
fetch mmcv's source: run tools/install.sh (or make install) first" >&2; exit 2; }
  .venv/bin/python -m pip download -q --no-deps --no-binary=:all: --no-build-isolation -d .whl mmcv==2.1.0
  du -sh .whl
  exit 0
fi

if [ "${1:-}" = "--cpu" ]; then
  PY=${PYTHON:-.venv/bin/python}
  [ -x "$PY" ] || PY=python3
  exec "$PY" tools/gpu_check.py "$@"
fi

# no section of gpu_check.py starts after this (the device runs one command for at most 600 s)
export UMIX_GPU_CHECK_DEADLINE=${UMIX_GPU_CHECK_DEADLINE:-$(( $(date +%s) + ${UMIX_GPU_CHECK_BUDGET:-540} ))}
PY=${PYTHON:-python3}
SITE=${UMIX_GPU_CHECK_SITE:-/tmp/site}  # where the carried wheels are installed
WHEELS_DIR=${UMIX_GPU_CHECK_WHEELS:-.whl}
# why an import failed is printed: a missing module means "install", anything else (an ABI
# mismatch, a missing library) would only start a minutes-long compile that fails the same way
imports() { "$PY" -c "import $1" 2>"$SITE.err" || { echo "[gpu_check] import $1: $(tail -n 1 "$SITE.err")" >&2; return 1; }; }
mkdir -p "$SITE"
if ! imports 'mmseg, mmcv.ops'; then
  [ -d "$WHEELS_DIR" ] || { echo "gpu_check: mmseg is not installed and $WHEELS_DIR/ is missing: run tools/gpu_check.sh --fetch-wheels here and carry .whl" >&2; exit 2; }
  t0=$(date +%s)
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS_DIR"/*.whl
  export PYTHONPATH=$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}
  if ! imports mmcv.ops; then
    # built with the carried setuptools ($SITE is on PYTHONPATH): newer ones lack pkg_resources.
    # mmcv's setup.py builds the CUDA kernels whenever torch sees a GPU, whatever FORCE_CUDA
    # says: the GPUs are hidden from this one command (install_choice.build_env; the models
    # timed here run none of those kernels)
    BUILD_ENV=$("$PY" tools/install_choice.py mmcv-cpu)
    echo "[gpu_check] compiling mmcv 2.1.0's ops ($BUILD_ENV) on $(nproc) cores" >&2
    # shellcheck disable=SC2086  # one word per assignment
    env $BUILD_ENV MAX_JOBS=$(nproc) "$PY" -m pip install -q --no-index --no-deps --no-build-isolation \
      --target "$SITE" "$WHEELS_DIR"/mmcv-2.1.0.tar.gz
    imports mmcv.ops || exit 2
  fi
  echo "[gpu_check] set-up: $(( $(date +%s) - t0 )) s" >&2
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
exec "$PY" tools/gpu_check.py "$@"
