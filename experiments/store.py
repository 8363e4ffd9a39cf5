"""The results store: one JSON record per (stage, run key), written atomically.

A run key identifies *what* is computed, not which table asked for it: a hash of
everything the number depends on (see docs/store.md), the profile and, for
stochastic stages, the seed. Two tables that need the same training run share one
record and one training. A finished record is never overwritten; a damaged one is
moved to ``records/damaged/`` and an invalidated one to ``records/history/``.
Paths inside records are relative to the runs folder, so a store can be moved.
"""
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

DONE, FAILED, RUNNING, PREEMPTED, INTERRUPTED = 'done', 'failed', 'running', 'preempted', 'interrupted'
# bumped whenever what goes into a key changes: records under older keys are not reused
KEY_VERSION = 2
SEEDED_STAGES = ('train', 'test', 'robustness')  # results depend on the trained weights


STATUSES = (DONE, FAILED, RUNNING, PREEMPTED, INTERRUPTED)
# metrics the suite reads as numbers (analysis, reports, the console): a record whose
# value for one of them is not a number is damaged; a NaN or infinite one is kept in the
# record but is not a value (analysis reads it as not measured)
NUMERIC_METRICS = frozenset({
    'miou', 'mIoU', 'aAcc', 'mAcc', 'params_m', 'params_published_layout_m', 'gflops', 'latency_ms', 'fps',
    'miou_clean', 'miou_corrupted', 'iters', 'final_loss'})


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


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite(value: Any) -> bool:
    """A metric value that counts: a number, neither NaN nor infinite."""
    return is_number(value) and math.isfinite(value)


_STR_FIELDS = ('key', 'stage', 'status', 'config', 'config_hash', 'profile', 'dataset', 'git_revision', 'device',
               'command', 'started_at', 'finished_at', 'error', 'log')
_DICT_FIELDS = ('metrics', 'artifacts', 'packages', 'settings')


def check_record(data: Any) -> Record:
    """A Record from a parsed JSON object, or TypeError/ValueError naming the first
    field whose type or value is wrong."""
    if not isinstance(data, dict):
        raise TypeError(f'a record is a JSON object, got {type(data).__name__}')
    rec = Record(**data)  # unknown or missing fields: TypeError
    for name in _STR_FIELDS:
        if not isinstance(getattr(rec, name), str):
            raise TypeError(f'field {name!r} must be a string, got {getattr(rec, name)!r}')
    for name in _DICT_FIELDS:
        if not isinstance(getattr(rec, name), dict):
            raise TypeError(f'field {name!r} must be an object, got {getattr(rec, name)!r}')
    if rec.status not in STATUSES:
        raise ValueError(f'field \'status\' must be one of {", ".join(STATUSES)}, got {rec.status!r}')
    if rec.seed is not None and not (isinstance(rec.seed, int) and not isinstance(rec.seed, bool)):
        raise TypeError(f'field \'seed\' must be an integer or null, got {rec.seed!r}')
    if not is_number(rec.wall_time_s):
        raise TypeError(f'field \'wall_time_s\' must be a number, got {rec.wall_time_s!r}')
    if not isinstance(rec.rows, list) or not all(isinstance(r, str) for r in rec.rows):
        raise TypeError(f'field \'rows\' must be a list of strings, got {rec.rows!r}')
    if rec.resumed_from is not None and not isinstance(rec.resumed_from, str):
        raise TypeError(f'field \'resumed_from\' must be a string or null, got {rec.resumed_from!r}')
    for name, value in rec.artifacts.items():
        if value is not None and not isinstance(value, str):
            raise TypeError(f'artifact {name!r} must be a path (string), got {value!r}')
    for name in NUMERIC_METRICS & set(rec.metrics):
        if not is_number(rec.metrics[name]):
            raise TypeError(f'metric {name!r} must be a number, got {rec.metrics[name]!r}')
    return rec


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


def aside_stamp() -> str:
    """The suffix of a file or folder set aside: when, by which process, and a few
    random letters (one process may set the same key aside twice in a second)."""
    return time.strftime('.%Y%m%d-%H%M%S') + f'.{os.getpid()}.{uuid.uuid4().hex[:6]}'


class StoreError(ValueError):
    """The runs folder cannot be used (e.g. it is a file)."""


class Store:
    """Records under ``<root>/records/<key>.json``; run folders under ``<root>/work``."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        if os.path.exists(self.root) and not os.path.isdir(self.root):
            raise StoreError(f'--runs-dir {root} is a file, not a folder: give a folder for the results '
                             '(it is created if missing)')
        parent = os.path.dirname(self.root)
        while not os.path.exists(parent):  # the folder is created under its first existing ancestor
            parent = os.path.dirname(parent)
        if not os.path.isdir(parent):
            raise StoreError(f'--runs-dir {root} lies under {parent}, which is a file, not a folder: give a folder '
                             'for the results')
        self.moved: List[Tuple[str, str, str]] = []  # (damaged file, where it went, why)
        self._seen_damaged: set = set()

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

    def data_dir(self) -> str:
        """Where the built-in datasets are generated."""
        return os.path.join(self.root, 'data')

    def is_builtin_root(self, root: str) -> bool:
        """Whether a dataset root is one of the built-in datasets of this store."""
        return os.path.dirname(root) == self.data_dir()

    def _aside_path(self, path: str, folder: str, stamp: str) -> str:
        """Where the record file ``path`` goes under records/<folder>/, stamped."""
        rel = os.path.relpath(path, os.path.join(self.root, 'records'))
        return os.path.join(self.root, 'records', folder, rel[:-len('.json')] + stamp + '.json')

    def _aside(self, path: str, folder: str) -> str:
        dest = self._aside_path(path, folder, aside_stamp())
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        os.replace(path, dest)
        return dest

    def _load(self, path: str) -> Optional[Record]:
        """The record in ``path``; a damaged file (not JSON, or a field of the wrong
        type) is moved to records/damaged/ (named on stderr and in ``self.moved``)
        and read as missing. In a store this process cannot write, it is left where
        it is and still read as missing."""
        try:
            with open(path) as f:
                return check_record(json.load(f))
        except FileNotFoundError:
            return None
        except (ValueError, TypeError, UnicodeDecodeError) as err:
            why = f'{type(err).__name__}: {err}'.splitlines()[0][:200]
            if path in self._seen_damaged:
                return None
            self._seen_damaged.add(path)
            try:
                dest = self._aside(path, 'damaged')
            except FileNotFoundError:  # another reader moved it first
                return None
            except OSError as os_err:  # a read-only store (shared, or another user's): report, read on
                dest = f'nowhere (the store is not writable here: {os_err.strerror})'
            self.moved.append((path, dest, why))
            print(f'run-experiment: damaged record {path} ({why}) moved to {dest}; it counts as missing',
                  file=sys.stderr)
            return None

    def get(self, key: str) -> Optional[Record]:
        return self._load(self.path(key))

    def retire(self, key: str) -> Optional[str]:
        """Moves a record and its run folder aside (see ``retire_all``); returns where the record went."""
        return self.retire_all([key]).get(key)

    def retire_all(self, keys: List[str]) -> Dict[str, str]:
        """Sets records aside so that they are recomputed from scratch: each record goes
        to records/history/ and its run folder (checkpoints, logs) to work/history/,
        under the same time stamp; nothing is deleted. The retired records' paths are
        rewritten to where the folders went, so history stays consistent and a rerun
        never resumes from the old run's checkpoints. Returns key -> the record's new path."""
        stamp = aside_stamp()
        moved_work: Dict[str, str] = {}  # old relative folder -> new relative folder
        for key in keys:
            work = self.work_dir(key)
            if os.path.isdir(work):
                dest = os.path.join(self.root, 'work', 'history', key + stamp)
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                os.replace(work, dest)
                moved_work[self.rel(work)] = self.rel(dest)

        def moved(path):
            for old, new in moved_work.items():
                if isinstance(path, str) and (path == old or path.startswith(old + os.sep)):
                    return new + path[len(old):]
            return path
        out: Dict[str, str] = {}
        for key in keys:
            rec = self.get(key)
            if rec is None:
                continue
            rec.artifacts = {k: moved(v) for k, v in rec.artifacts.items()}
            rec.log, rec.resumed_from = moved(rec.log), moved(rec.resumed_from)
            dest = self._aside_path(self.path(key), 'history', stamp)
            atomic_write(dest, json.dumps(asdict(rec), indent=2, sort_keys=True))
            os.unlink(self.path(key))
            out[key] = dest
        return out

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
