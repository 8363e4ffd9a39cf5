"""Which torch the install keeps or installs, and how mmcv's ops are built for it.

Run by tools/install.sh with the venv's Python: ``torch`` prints the torch
requirement before anything is installed, ``mmcv`` prints the mmcv build's environment
(FORCE_CUDA 0/1; the GPUs hidden for CPU ops) once torch is there (``mmcv-cpu``: that of
CPU ops, for tools/gpu_check.sh); what was decided, and why, goes to stderr. A torch that is already a CUDA build (a GPU node where the user
installed the build matching the node's driver, as the README says) is kept, and
mmcv's ops are then compiled for CUDA too; ``UMIX_TORCH`` names a torch
requirement explicitly (e.g. ``torch==2.5.1``, or ``keep``). Elsewhere the
CPU pin is installed (pip takes a CUDA build of several GB for a plain ``torch``).
"""
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import List, Optional

CPU_PIN = 'torch==2.13.0'


@dataclass(frozen=True)
class Installed:
    version: Optional[str]  # None: no torch in the venv
    cuda: Optional[str]  # the CUDA version it was built for (torch.version.cuda), None for a CPU build
    gpus: int  # GPUs it sees now


@dataclass(frozen=True)
class Choice:
    value: str  # the torch requirement pip is given / '1' or '0' for FORCE_CUDA
    message: str


def torch_requirement(installed: Installed, user: str = '') -> Choice:
    """The torch requirement: the user's (UMIX_TORCH), a CUDA build already there, or the CPU pin."""
    if user and user != 'keep':
        return Choice(user, f'torch: {user}, as UMIX_TORCH asks')
    if installed.version and (installed.cuda or user == 'keep'):
        what = (f'a CUDA {installed.cuda} build that sees {installed.gpus} GPU(s)' if installed.cuda
                else 'a CPU build, UMIX_TORCH=keep')
        return Choice(f'torch=={installed.version}', f'torch: keeping {installed.version} ({what})')
    if installed.version and installed.version.split('+')[0] == CPU_PIN.split('==')[1]:
        return Choice(CPU_PIN, f'torch: keeping {installed.version} (the CPU pin)')
    replaced = f', replacing {installed.version} (a CPU build)' if installed.version else ''
    return Choice(CPU_PIN, f'torch: installing {CPU_PIN}, the CPU build{replaced}; on a GPU node install the CUDA '
                  'build of torch matching its driver first (or set UMIX_TORCH), and the install keeps it')


def mmcv_ops(installed: Installed, nvcc: bool) -> Choice:
    """FORCE_CUDA for mmcv's compiled ops: CUDA ops for a CUDA torch where nvcc can build them."""
    if installed.cuda is None:
        return Choice('0', 'mmcv ops: for the CPU (torch is a CPU build)')
    if not nvcc:
        return Choice('0', f'mmcv ops: for the CPU only: torch is a CUDA {installed.cuda} build but nvcc is not on '
                      'PATH (load the CUDA toolkit of that version and reinstall for the CUDA ops)')
    return Choice('1', f'mmcv ops: for CUDA {installed.cuda} and the CPU')


def build_env(force_cuda: str) -> List[str]:
    """The environment of the mmcv build, as ``env`` words. mmcv 2.1.0's setup.py builds
    the CUDA extension when ``torch.cuda.is_available() or FORCE_CUDA == '1'``: on a GPU
    machine FORCE_CUDA=0 alone still starts an nvcc build of every kernel (failing without
    a CUDA toolkit, far too long with one), so CPU ops hide the GPUs from that command."""
    words = ['MMCV_WITH_OPS=1', f'FORCE_CUDA={force_cuda}']
    return words + (['CUDA_VISIBLE_DEVICES='] if force_cuda == '0' else [])


def installed_torch(python: str = sys.executable) -> Installed:
    code = ('import torch; print(torch.__version__); print(torch.version.cuda or ""); '
            'print(torch.cuda.device_count() if torch.cuda.is_available() else 0)')
    try:
        out = subprocess.run([python, '-c', code], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return Installed(None, None, 0)
    if out.returncode != 0:
        return Installed(None, None, 0)
    version, cuda, gpus = (out.stdout.splitlines() + ['', '', '0'])[:3]
    return Installed(version.strip() or None, cuda.strip() or None, int(gpus or 0))


def main(argv=None) -> int:
    """``torch``: print the torch requirement; ``mmcv``: print the mmcv build's environment
    (``build_env`` of the FORCE_CUDA chosen here); ``mmcv-cpu``: that of CPU ops."""
    what = (argv or sys.argv[1:] or ['torch'])[0]
    if what == 'mmcv-cpu':  # the GPU check's build: no choice to make or say
        print(' '.join(build_env('0')))
        return 0
    if what == 'torch':
        choice = torch_requirement(installed_torch(), os.environ.get('UMIX_TORCH', '').strip())
    elif what == 'mmcv':
        choice = mmcv_ops(installed_torch(), shutil.which('nvcc') is not None)
    else:
        print(f'usage: {sys.argv[0]} torch|mmcv|mmcv-cpu', file=sys.stderr)
        return 2
    print(f'[install] {choice.message}', file=sys.stderr)
    print(' '.join(build_env(choice.value)) if what == 'mmcv' else choice.value)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
