#!/usr/bin/env bash
# A dry run of the GPU check's device set-up, on this machine: a fresh virtual environment
# holding only torch and packages the device image has (.library/device/KINDS.md: numpy,
# pandas, matplotlib, jinja2, rich, opencv, numba, scipy, scikit-image, ...), no mmengine,
# mmcv or mmseg; pip offline (no index, no pip config) and, where `unshare` may, no network.
# It runs tools/gpu_check.sh's device path as the device runs it: the carried .whl/ installed,
# mmcv's ops compiled for the CPU with the GPUs hidden, then gpu_check.py, which stops with
# "no GPU visible" (exit 2) as designed here; then two sections of the CPU stand-in with
# exactly the installed packages. Prints the set-up time.
#
#   tools/gpu_check_dryrun.sh            # PYTHON=python3.12 TORCH=2.11.0 for the device's own versions
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3.11}
SIM=${UMIX_SIM:-/tmp/gpu-check-sim}
[ -d .whl ] || bash tools/gpu_check.sh --fetch-wheels
rm -rf "$SIM" "$SIM-site" "$SIM-out"
"$PY" -m venv "$SIM"
"$SIM/bin/python" -m pip install -q "torch==${TORCH:-2.13.0}" numpy pandas matplotlib jinja2 rich \
  opencv-python-headless numba scipy scikit-image pyyaml pillow packaging regex requests tqdm
export PIP_NO_INDEX=1 PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS=
# a new network namespace has its loopback down: brought up (the device has one; the process
# group section connects to 127.0.0.1)
OFFLINE=(); unshare -n true 2>/dev/null && OFFLINE=(unshare -n sh -c 'ip link set lo up 2>/dev/null; exec "$@"' offline)
t0=$(date +%s)
rc=0
"${OFFLINE[@]}" env PYTHON="$SIM/bin/python" UMIX_GPU_CHECK_SITE="$SIM-site" OUT="$SIM-out" \
  bash tools/gpu_check.sh || rc=$?
echo "[dry run] set-up to gpu_check.py: $(( $(date +%s) - t0 )) s on $(nproc) cores; gpu_check.sh exit $rc" \
     "(2: no GPU visible, as designed on a CPU)${OFFLINE:+; network cut with unshare -n}"
[ "$rc" = 2 ] || exit 1
# the installed packages are enough for gpu_check.py itself (two quick sections on the CPU)
"${OFFLINE[@]}" env PYTHONPATH="$SIM-site:$PWD" "$SIM/bin/python" tools/gpu_check.py --cpu \
  --sections process_group,logits --out "$SIM-out"
echo "[dry run] passed: $SIM-out/gpu-check.md"
