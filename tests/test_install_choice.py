"""tools/install.sh on a GPU node: a CUDA build of torch already there is kept (the CPU
pin would replace it), mmcv's ops are built for CUDA where nvcc can, and it says so."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, 'tools'))
from install_choice import CPU_PIN, Installed, build_env, mmcv_ops, torch_requirement  # noqa: E402


@pytest.mark.parametrize('installed,user,expected,said', [
    (Installed(None, None, 0), '', CPU_PIN, 'installing torch==2.13.0'),  # a fresh venv
    (Installed('2.13.0+cpu', None, 0), '', CPU_PIN, 'keeping 2.13.0+cpu (the CPU pin)'),
    (Installed('2.1.0', None, 0), '', CPU_PIN, 'replacing 2.1.0'),  # an old CPU build
    (Installed('2.5.1+cu121', '12.1', 8), '', 'torch==2.5.1+cu121', 'keeping 2.5.1+cu121 (a CUDA 12.1 build that '
     'sees 8 GPU(s))'),
    (Installed('2.5.1+cu121', '12.1', 0), '', 'torch==2.5.1+cu121', 'keeping'),  # a login node without GPUs
    (Installed('2.1.0', None, 0), 'keep', 'torch==2.1.0', 'UMIX_TORCH=keep'),
    (Installed(None, None, 0), 'torch==2.4.0', 'torch==2.4.0', 'as UMIX_TORCH asks'),
])
def test_torch_requirement(installed, user, expected, said):
    choice = torch_requirement(installed, user)
    assert choice.value == expected and said in choice.message


@pytest.mark.parametrize('installed,nvcc,force_cuda,said', [
    (Installed('2.13.0', None, 0), True, '0', 'for the CPU'),
    (Installed('2.5.1+cu121', '12.1', 8), True, '1', 'for CUDA 12.1'),
    (Installed('2.5.1+cu121', '12.1', 8), False, '0', 'nvcc is not on PATH'),
])
def test_mmcv_ops(installed, nvcc, force_cuda, said):
    choice = mmcv_ops(installed, nvcc)
    assert choice.value == force_cuda and said in choice.message


def test_cpu_ops_hide_the_gpus_from_the_build():
    """mmcv's setup.py builds CUDA kernels whenever torch sees a GPU, FORCE_CUDA=0 or not."""
    assert build_env('0') == ['MMCV_WITH_OPS=1', 'FORCE_CUDA=0', 'CUDA_VISIBLE_DEVICES=']
    assert build_env('1') == ['MMCV_WITH_OPS=1', 'FORCE_CUDA=1']


STUB = r'''#!/usr/bin/env bash
echo "$* | CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset} | FORCE_CUDA=${FORCE_CUDA-unset}" >> "$STUB_LOG"
case "$1" in */install_choice.py) exec "$REAL_PYTHON" "$@" ;; esac
case "$1 $2" in "-c import mmcv, mmcv.ops") exit 1 ;; esac
exit 0
'''


def test_install_builds_cpu_ops_with_the_gpus_hidden(tmp_path):
    """tools/install.sh's mmcv command line, on a GPU node without nvcc (CPU ops): the venv's
    python is a stub that records each call and its environment."""
    venv = tmp_path / 'venv'
    (venv / 'bin').mkdir(parents=True)
    stub = venv / 'bin' / 'python'
    stub.write_text(STUB)
    stub.chmod(0o755)
    log = tmp_path / 'calls'
    env = dict(os.environ, UMIX_VENV=str(venv), STUB_LOG=str(log), REAL_PYTHON=sys.executable,
               CUDA_VISIBLE_DEVICES='0', UMIX_TORCH='')
    res = subprocess.run(['bash', os.path.join(ROOT, 'tools', 'install.sh')], env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    (build, ) = [c for c in log.read_text().splitlines() if 'mmcv==2.1.0' in c]
    assert '--no-build-isolation' in build and build.endswith('| CUDA_VISIBLE_DEVICES= | FORCE_CUDA=0')
    assert 'MMCV_WITH_OPS=1 FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=' in res.stderr  # and says so


def test_the_script_reports_this_venv():
    """Here (a CPU venv with the pin): torch stays, ops for the CPU, both said on stderr."""
    for what, value in (('torch', CPU_PIN), ('mmcv', 'MMCV_WITH_OPS=1 FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=')):
        res = subprocess.run([sys.executable, os.path.join(ROOT, 'tools', 'install_choice.py'), what],
                             capture_output=True, text=True, timeout=300, env={**os.environ, 'UMIX_TORCH': ''})
        assert res.returncode == 0 and res.stdout.strip() == value and res.stderr.startswith('[install] ')
