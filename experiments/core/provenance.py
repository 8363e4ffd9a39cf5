"""What a record states about how it was made: the code's revision, the packages, the time."""
import platform
import subprocess
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Dict


def now() -> str:
    return time.strftime('%Y-%m-%dT%H:%M:%S%z')


def git_revision(path: str) -> str:
    try:
        rev = subprocess.run(['git', '-C', path, 'rev-parse', 'HEAD'], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(['git', '-C', path, 'status', '--porcelain', '--untracked-files=no'],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ('+dirty' if rev and dirty else '') if rev else 'unknown'
    except (OSError, subprocess.SubprocessError):
        return 'unknown'


def package_versions() -> Dict[str, str]:
    out = {'python': platform.python_version()}
    for name in ('torch', 'mmcv', 'mmengine', 'mmsegmentation', 'umixformer-suite', 'numpy'):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out
