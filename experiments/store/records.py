"""A record: one stage's result for one run key, what it depends on and how it was made.

``check_record`` reads a parsed JSON object back, naming the first field whose type or
value is wrong (the store sets such a file aside as damaged)."""
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from experiments.core.metrics import numeric_fields
from experiments.core.stages import stale

DONE, FAILED, RUNNING, PREEMPTED, INTERRUPTED = 'done', 'failed', 'running', 'preempted', 'interrupted'


STATUSES = (DONE, FAILED, RUNNING, PREEMPTED, INTERRUPTED)


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
    # the version of its stage's computation that made it (StageSpec.version; 1 before versions)
    version: int = 1
    # what the result depends on beyond the config: evaluation pipeline,
    # Cityscapes-C protocol, latency settings
    settings: Dict[str, Any] = field(default_factory=dict)
    # how it was trained and evaluated, as experiments.registry.recipe reads it from the run's
    # resolved config and data (compared with the paper's run by analysis.deviations); None:
    # recorded before recipes were kept
    recipe: Optional[Dict[str, Any]] = None


def current(rec: 'Record') -> bool:
    """A done record of the computation the suite runs now (not stale: ``StageSpec.version``)."""
    return rec.status == DONE and not stale(rec.stage, rec.version)


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
    if not (isinstance(rec.version, int) and not isinstance(rec.version, bool)) or rec.version < 1:
        raise TypeError(f'field \'version\' must be a positive integer, got {rec.version!r}')
    if not is_number(rec.wall_time_s):
        raise TypeError(f'field \'wall_time_s\' must be a number, got {rec.wall_time_s!r}')
    if not isinstance(rec.rows, list) or not all(isinstance(r, str) for r in rec.rows):
        raise TypeError(f'field \'rows\' must be a list of strings, got {rec.rows!r}')
    if rec.recipe is not None and not isinstance(rec.recipe, dict):
        raise TypeError(f'field \'recipe\' must be an object or null, got {rec.recipe!r}')
    if rec.resumed_from is not None and not isinstance(rec.resumed_from, str):
        raise TypeError(f'field \'resumed_from\' must be a string or null, got {rec.resumed_from!r}')
    for name, value in rec.artifacts.items():
        if value is not None and not isinstance(value, str):
            raise TypeError(f'artifact {name!r} must be a path (string), got {value!r}')
    # a record whose value for one of the catalogue's metrics is not a number is damaged; a NaN or
    # infinite one is kept in the record but is not a value (analysis reads it as not measured)
    for name in numeric_fields() & set(rec.metrics):
        if not is_number(rec.metrics[name]):
            raise TypeError(f'metric {name!r} must be a number, got {rec.metrics[name]!r}')
    return rec


