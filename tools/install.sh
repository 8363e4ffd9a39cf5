#!/usr/bin/env bash
# Creates .venv and installs the pinned stack. Idempotent: a second run with the same
# pins installs nothing (a stamp file records the pins that were installed).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${UMIX_VENV:-$ROOT/.venv}
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

# Pins: torch first (tools/install_choice.py: the CPU pin, or a CUDA build already in the
# venv, kept; a plain `torch` requirement would pull a multi-GB CUDA build), setuptools
# that still ships pkg_resources (mmcv 2.1.0's setup.py needs it).
SETUPTOOLS='setuptools>=77,<81'
MMCV=mmcv==2.1.0
STACK=(mmengine==0.10.7 mmsegmentation==1.2.2 ftfy regex fvcore 'numpy<2.5' pandas jinja2 matplotlib
       rich pytest pytest-timeout 'pytest-xdist==3.8.0' 'imagecorruptions==1.1.2' 'numba==0.68.1' 'scikit-image' 'opencv-python-headless'
       'cityscapesscripts==2.2.4' 'tensorboard==2.21.0' 'mlflow-skinny==3.17.2' 'wandb==0.31.0'
       'onnx==1.23.2' 'onnxruntime==1.23.2')
STAMP_TEXT="${UMIX_TORCH:-} $SETUPTOOLS $MMCV ${STACK[*]} $(sha1sum "$ROOT/pyproject.toml" "$ROOT/tools/install_choice.py" | cut -c1-12 | tr '\n' ' ')"
STAMP=$VENV/.umixformer-installed

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_TEXT" ]; then
  exit 0
fi
log() { echo "[install] $*" >&2; }
[ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PY" -m venv "$VENV"; }
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
# a CUDA build of torch already in the venv is kept (and what was kept is said)
TORCH=$("$VENV/bin/python" "$ROOT/tools/install_choice.py" torch)
log "torch ($TORCH) + build tools"
"${PIP[@]}" "$TORCH" "$SETUPTOOLS" wheel ninja
if ! "$VENV/bin/python" -c 'import mmcv, mmcv.ops' 2>/dev/null; then
  # MMCV_WITH_OPS=1 FORCE_CUDA=0|1, and for CPU ops the GPUs hidden (install_choice.build_env)
  BUILD_ENV=$("$VENV/bin/python" "$ROOT/tools/install_choice.py" mmcv)
  log "mmcv 2.1.0 with compiled ops ($BUILD_ENV; first time on a machine: about 9 minutes on 2 cores; pip caches the wheel)"
  # shellcheck disable=SC2086  # one word per assignment
  env $BUILD_ENV MAX_JOBS=${MAX_JOBS:-$(nproc)} "${PIP[@]}" --no-build-isolation "$MMCV"
fi
log "mmengine, mmsegmentation and the rest"
"${PIP[@]}" "$TORCH" "${STACK[@]}"
"${PIP[@]}" --no-build-isolation --no-deps -e "$ROOT"
echo "$STAMP_TEXT" > "$STAMP"
log "done: $VENV"
