"""What a record states about how it was made: the code's revision, the packages, the time."""
import json
import platform
import subprocess
import time
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Dict, List, Mapping


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


def config_lines(config: Mapping[str, Any]) -> str:
    """A resolved config as one line per value, ``dotted.name = JSON value`` in sorted order
    (``model.decode_head.num_classes = 150``, list items as ``[i]``): the text a record's
    resolved config is kept as, so that two runs' configs diff line by line."""
    out: List[str] = []

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, Mapping) and node:
            for k in sorted(node, key=str):
                walk(f'{prefix}.{k}' if prefix else str(k), node[k])
        elif isinstance(node, (list, tuple)) and node and any(isinstance(v, (Mapping, list, tuple)) for v in node):
            for i, v in enumerate(node):
                walk(f'{prefix}[{i}]', v)
        else:
            out.append(f'{prefix} = {json.dumps(node, sort_keys=True, default=str)}')
    walk('', config)
    return '\n'.join(out) + '\n'
