"""The results store: one JSON record per (stage, run key), written atomically.

A run key identifies *what* is computed, not which table asked for it: a hash of
everything the number depends on (see docs/store.md), the profile and, for
stochastic stages, the seed. Two tables that need the same training run share one
record and one training. A finished record is never overwritten; a damaged one is
moved to ``records/damaged/`` and an invalidated one to ``records/history/``.
Paths inside records are relative to the runs folder, so a store can be moved.
"""
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

DONE, FAILED, RUNNING, PREEMPTED, INTERRUPTED = 'done', 'failed', 'running', 'preempted', 'interrupted'
# bumped whenever what goes into a key changes: records under older keys are not reused
KEY_VERSION = 2
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
    # what the result depends on beyond the config: evaluation pipeline,
    # Cityscapes-C protocol, latency settings
    settings: Dict[str, Any] = field(default_factory=dict)


def atomic_write(path: str, text: Union[str, bytes]) -> str:
    """Writes ``text`` (or bytes) to ``path`` through a temp file in the same folder
    and a rename, so a reader sees the old file or the whole new one, never a part."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix='.part')
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes 0600: respect the umask
        with os.fdopen(fd, 'wb' if isinstance(text, bytes) else 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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


class StoreError(ValueError):
    """The runs folder cannot be used (e.g. it is a file)."""


class Store:
    """Records under ``<root>/records/<key>.json``; run folders under ``<root>/work``."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        if os.path.exists(self.root) and not os.path.isdir(self.root):
            raise StoreError(f'--runs-dir {root} is a file, not a folder: give a folder for the results '
                             '(it is created if missing)')
        self.moved: List[Tuple[str, str, str]] = []  # (damaged file, where it went, why)

    def path(self, key: str) -> str:
        return os.path.join(self.root, 'records', key + '.json')

    def work_dir(self, key: str) -> str:
        return os.path.join(self.root, 'work', key)

    def rel(self, path: str) -> str:
        """A path as stored in a record: relative to the runs folder when inside it."""
        ab = os.path.abspath(path)
        return os.path.relpath(ab, self.root) if ab.startswith(self.root + os.sep) else ab

    def abs(self, path: str) -> str:
        """A path read from a record, made absolute (records store them relative)."""
        return path if not path or os.path.isabs(path) else os.path.join(self.root, path)

    def _aside(self, path: str, folder: str) -> str:
        rel = os.path.relpath(path, os.path.join(self.root, 'records'))
        dest = os.path.join(self.root, 'records', folder, rel[:-len('.json')] + time.strftime('.%Y%m%d-%H%M%S')
                            + f'.{os.getpid()}.json')
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.replace(path, dest)
        return dest

    def _load(self, path: str) -> Optional[Record]:
        """The record in ``path``; a damaged file is moved to records/damaged/ (named
        on stderr and in ``self.moved``) and read as missing."""
        try:
            with open(path) as f:
                data = json.load(f)
            if not isinstance(data, dict):
                raise TypeError(f'a record is a JSON object, got {type(data).__name__}')
            rec = Record(**data)
            if not isinstance(rec.metrics, dict) or not isinstance(rec.artifacts, dict):
                raise TypeError('metrics and artifacts must be objects')
            return rec
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, UnicodeDecodeError) as err:
            try:
                dest = self._aside(path, 'damaged')
            except FileNotFoundError:  # another reader moved it first
                return None
            why = f'{type(err).__name__}: {err}'.splitlines()[0][:200]
            self.moved.append((path, dest, why))
            print(f'run-experiment: damaged record {path} ({why}) moved to {dest}; it counts as missing',
                  file=sys.stderr)
            return None

    def get(self, key: str) -> Optional[Record]:
        return self._load(self.path(key))

    def retire(self, key: str) -> Optional[str]:
        """Moves a record to records/history/ (kept, never deleted); returns where."""
        path = self.path(key)
        return self._aside(path, 'history') if os.path.exists(path) else None

    def damaged(self) -> List[str]:
        """Files under records/damaged/, oldest first."""
        base = os.path.join(self.root, 'records', 'damaged')
        out = [os.path.join(d, f) for d, _, fs in os.walk(base) for f in fs]
        return sorted(out, key=os.path.getmtime)

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
        for dirpath, dirnames, files in os.walk(base):
            if dirpath == base:  # not the damaged and superseded ones
                dirnames[:] = [d for d in dirnames if d not in ('damaged', 'history')]
            for f in sorted(files):
                if f.endswith('.json'):
                    rec = self._load(os.path.join(dirpath, f))
                    if rec is not None:
                        yield rec
