"""The results store: one JSON record per (stage, run key), written atomically.

A run key identifies *what* is computed, not which table asked for it: the
config's content hash (after the profile), the profile and, for stochastic
stages, the seed. Two tables that need the same training run share one record
and one training. A finished record is never overwritten.
"""
import json
import os
import platform
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterator, List, Optional

DONE, FAILED, RUNNING, PREEMPTED = 'done', 'failed', 'running', 'preempted'
SEEDED_STAGES = ('train', 'test', 'robustness')  # results depend on the trained weights


class RecordExistsError(RuntimeError):
    """Refusing to overwrite a finished record."""


@dataclass
class Record:
    key: str
    stage: str
    status: str
    config: str
    config_hash: str
    profile: str
    seed: Optional[int]
    dataset: str
    rows: List[str] = field(default_factory=list)  # "table/row" that asked for it
    metrics: Dict[str, Any] = field(default_factory=dict)
    artifacts: Dict[str, str] = field(default_factory=dict)
    git_revision: str = ''
    packages: Dict[str, str] = field(default_factory=dict)
    device: str = ''
    wall_time_s: float = 0.0
    command: str = ''
    started_at: str = ''
    finished_at: str = ''
    resumed_from: Optional[str] = None
    error: str = ''
    log: str = ''


def atomic_write(path: str, text: str) -> str:
    """Writes ``text`` to ``path`` through a temp file in the same folder and a
    rename, so a reader sees the old file or the whole new one, never a part."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix='.part')
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def run_key(stage: str, config: str, config_hash: str, profile: str, seed: Optional[int]) -> str:
    stem = os.path.splitext(os.path.basename(config))[0]
    key = f'{stage}/{stem}-{config_hash[:10]}-{profile}'
    return key + (f'-s{seed}' if stage in SEEDED_STAGES else '')


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
    from importlib.metadata import PackageNotFoundError, version
    out = {'python': platform.python_version()}
    for name in ('torch', 'mmcv', 'mmengine', 'mmsegmentation', 'umixformer-suite', 'numpy'):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def device_name() -> str:
    import torch
    if torch.cuda.is_available():
        return f'cuda:{torch.cuda.get_device_name(0)}'
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next((l.split(':', 1)[1].strip() for l in f if l.startswith('model name')), cpu)
    except OSError:
        pass
    return f'cpu:{cpu} ({os.cpu_count()} cores, {torch.get_num_threads()} threads)'


class Store:
    """Records under ``<root>/records/<key>.json``; run folders under ``<root>/work``."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def path(self, key: str) -> str:
        return os.path.join(self.root, 'records', key + '.json')

    def work_dir(self, key: str) -> str:
        return os.path.join(self.root, 'work', key)

    def get(self, key: str) -> Optional[Record]:
        try:
            with open(self.path(key)) as f:
                return Record(**json.load(f))
        except FileNotFoundError:
            return None

    def is_done(self, key: str) -> bool:
        rec = self.get(key)
        return rec is not None and rec.status == DONE

    def put(self, record: Record) -> str:
        """Writes atomically (temp file + rename). A done record is final."""
        path = self.path(record.key)
        existing = self.get(record.key)
        if existing is not None and existing.status == DONE:
            raise RecordExistsError(f'{path} is a finished record; it is never overwritten '
                                    '(delete the file to recompute it)')
        return atomic_write(path, json.dumps(asdict(record), indent=2, sort_keys=True))

    def records(self) -> Iterator[Record]:
        base = os.path.join(self.root, 'records')
        for dirpath, _, files in os.walk(base):
            for f in sorted(files):
                if f.endswith('.json'):
                    with open(os.path.join(dirpath, f)) as fh:
                        yield Record(**json.load(fh))
