"""Which machine a result was computed on, worked out in one place.

A record's ``device`` (``cuda:NVIDIA A100-SXM4-80GB`` or ``cpu:MODEL (N cores, T
threads)``), the details a timing depends on, whether a device is a GPU, the device
names ``--latency-device`` accepts, and the CPUs this process may use. torch is
imported only by the functions that ask it."""
import os
import platform
import re
import subprocess
from typing import Any, Dict

from experiments.core.errors import SuiteError

DEVICE_NAME = re.compile(r'[a-z0-9][a-z0-9._-]*')  # a declared device: a100, h100, cpu


class DeviceMismatch(SuiteError, RuntimeError):
    """The node's device is not the one a record was declared for."""


def cpu_model() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next((line.split(':', 1)[1].strip() for line in f if line.startswith('model name')), cpu)
    except OSError:
        pass
    return cpu


def device_name() -> str:
    """The device a record's result was computed on (the first GPU where there is one)."""
    import torch
    if torch.cuda.is_available():
        return f'cuda:{torch.cuda.get_device_name(0)}'
    return f'cpu:{cpu_model()} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)'


def is_gpu(device: str) -> bool:
    """Whether a record's ``device`` is a GPU."""
    return device.startswith('cuda')


def device_details() -> Dict[str, Any]:
    """What a timing depends on besides the model: device, driver, CUDA, cuDNN, torch."""
    import torch
    out: Dict[str, Any] = {'device': device_name(), 'torch': torch.__version__, 'python': platform.python_version(),
                           'cpu_threads': torch.get_num_threads()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        out.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version(), capability='.'.join(map(str, torch.cuda.get_device_capability(0))))
        try:
            out['driver'] = subprocess.run(['nvidia-smi', '--query-gpu=driver_version', '--format=csv,noheader'],
                                           capture_output=True, text=True, timeout=20).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            out['driver'] = 'unknown'
    return out


def device_matches(declared: str, device: str) -> bool:
    """Whether a device name such as ``a100``, ``cuda`` or ``cpu`` names this record's
    device (a part of ``cuda:NVIDIA A100-SXM4-80GB``)."""
    return declared.lower() in device.lower().replace(' ', '-')


def check_declared_device(declared: str, device: str) -> None:
    """A record declared for a device (``--latency-device NAME``) is computed only there:
    NAME must be part of this node's device name (``a100`` of ``cuda:NVIDIA
    A100-SXM4-80GB``; ``cpu``)."""
    if declared and not device_matches(declared, device):
        raise DeviceMismatch(f'this latency record is declared for device {declared!r} (--latency-device), but this '
                             f'node has {device}: run it on a {declared} node, or declare this device')


def available_cpus() -> int:
    """The CPUs this process may run on: a SLURM job's allocation (its CPU affinity),
    not every core of the node that os.cpu_count() counts."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no affinity on this platform
        return os.cpu_count() or 1
