"""The declarative experiment registry: each paper table is a TOML file of rows.

A row names its model config, dataset, schedule, seeds and stages, and carries
the published values with their provenance. Rows copied from other papers are
``cited = true``: they have no config and never run. Tables are validated on
load; every error names the file, the row and the field.

Adding a table is writing one file: put ``mytable.toml`` in ``experiments/tables``
or in a folder given by ``--tables DIR`` / ``UMIX_TABLES=DIR[:DIR...]``.
"""
import math
import os
import re
import tomllib
from dataclasses import dataclass, field, replace
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .pipelines import PIPELINES

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG_DIR = os.path.join(HERE, 'configs')
TABLE_DIR = os.path.join(HERE, 'tables')

STAGES = ('train', 'test', 'complexity', 'latency', 'robustness')
# a stage that needs another stage's result of the same (row, seed)
STAGE_NEEDS = {'test': 'train', 'robustness': 'train'}
DATASETS = ('ade20k', 'cityscapes')
METRICS = ('params_m', 'params_published_layout_m', 'gflops', 'miou', 'latency_ms', 'fps',
           'miou_clean', 'miou_corrupted')
# mIoU-type metrics: percentages (0..100), compared in points rather than relatively
PERCENT_METRICS = ('miou', 'miou_clean', 'miou_corrupted')
# what --rows can name (a comma separates ids there) and a file name can hold
ROW_ID = re.compile(r'[A-Za-z0-9][A-Za-z0-9._+-]*')
ROW_FIELDS = {'id', 'group', 'method', 'encoder', 'dataset', 'config', 'seeds', 'stages',
              'schedule', 'published', 'provenance', 'cited', 'notes', 'gpu_hours', 'gpus', 'nodes', 'pipeline',
              'tolerance', 'approximate'}
TABLE_FIELDS = {'name', 'title', 'source', 'metrics', 'defaults', 'rows', 'profiles', 'notes', 'reference',
                'expectations', 'layout'}
# How far a reproduced value may be from the published one and still be "reproduced":
# cost metrics relative (%), mIoU absolute (points; mmsegmentation's own benchmark
# regression uses 0.5). A row may state its own (`tolerance = { gflops = 3.0 }`, with the
# reason in its notes); values read off a figure (`approximate = ["gflops"]`) get the wider
# APPROXIMATE_TOLERANCE unless the row states one.
DEFAULT_TOLERANCE = {'params_m': 1.0, 'params_published_layout_m': 1.0, 'gflops': 1.0, 'latency_ms': 5.0,
                     'fps': 5.0, 'miou': 0.5, 'miou_clean': 0.5, 'miou_corrupted': 0.5}
APPROXIMATE_TOLERANCE = {'params_m': 2.0, 'params_published_layout_m': 2.0, 'gflops': 2.0, 'latency_ms': 10.0,
                         'fps': 10.0, 'miou': 1.0, 'miou_clean': 1.0, 'miou_corrupted': 1.0}
DEFAULT_GPU_HOURS = {'train': 24.0, 'test': 0.3, 'complexity': 0.02, 'latency': 0.05,
                     'robustness': 6.0}


class RegistryError(ValueError):
    """A table file is malformed; the message names file, row and field."""


@dataclass(frozen=True)
class Row:
    table: str
    id: str
    method: str
    encoder: str
    dataset: str
    group: str = ''
    config: Optional[str] = None  # absolute path, None for cited rows
    seeds: Tuple[int, ...] = (0, )
    stages: Tuple[str, ...] = ()
    schedule: str = ''
    published: Mapping[str, float] = field(default_factory=dict)
    provenance: str = ''
    cited: bool = False
    notes: str = ''
    gpu_hours: Mapping[str, float] = field(default_factory=dict)
    gpus: int = 1  # processes (GPUs) per node of its training
    nodes: int = 1
    pipeline: str = 'official'  # evaluation pipeline, see experiments/pipelines.py
    tolerance: Mapping[str, float] = field(default_factory=dict)
    approximate: Tuple[str, ...] = ()  # metrics whose published value is read off a figure
    table_dir: str = ''  # the folder of its table file (a command that reruns it names it with --tables)

    @property
    def world_size(self) -> int:
        """How many processes train it (the global batch is this x the config's)."""
        return self.gpus * self.nodes

    @property
    def label(self) -> str:
        return f'{self.method} ({self.encoder})' if self.encoder else self.method


@dataclass(frozen=True)
class Table:
    name: str
    title: str
    path: str
    rows: Tuple[Row, ...]
    source: str = ''
    metrics: Tuple[str, ...] = ('miou', )
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    notes: str = ''
    reference: str = ''  # ablations: the row every other row is compared with
    expectations: Tuple[Mapping[str, Any], ...] = ()  # the paper's stated differences to the reference
    layout: Mapping[str, Any] = field(default_factory=dict)  # the paper's column grouping (reports)

    def row(self, row_id: str) -> Row:
        for r in self.rows:
            if r.id == row_id:
                return r
        raise RegistryError(f'table {self.name!r} has no row {row_id!r}; rows: '
                            f'{", ".join(r.id for r in self.rows)}')

    def runnable(self) -> List[Row]:
        return [r for r in self.rows if not r.cited]


def _resolve_config(value: str, table_path: str) -> Optional[str]:
    for base in ('', os.path.dirname(table_path), CONFIG_DIR):
        path = os.path.join(base, value) if base else value
        if os.path.isabs(path) and os.path.isfile(path):
            return os.path.normpath(path)
        if base and os.path.isfile(path):
            return os.path.abspath(path)
    return None


def _check_type(where: str, name: str, value: Any, kind, what: str) -> None:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise RegistryError(f'{where}: field {name!r} must be {what}, got {value!r}')


def _parse_row(path: str, table: str, index: int, raw: Mapping[str, Any],
               defaults: Mapping[str, Any]) -> Row:
    rid = raw.get('id')
    where = f'{path}: row {index + 1}' + (f' ({rid})' if rid else '')
    if not isinstance(raw, Mapping):
        raise RegistryError(f'{where}: a row must be a table ([[rows]]), got {raw!r}')
    unknown = set(raw) - ROW_FIELDS
    if unknown:
        raise RegistryError(f'{where}: unknown field(s) {sorted(unknown)}; known: {sorted(ROW_FIELDS)}')
    merged = {**defaults, **raw}
    for name in ('id', 'method', 'dataset'):
        if name not in merged:
            raise RegistryError(f'{where}: missing field {name!r}')
        _check_type(where, name, merged[name], str, 'a string')
    if not ROW_ID.fullmatch(merged['id']):
        raise RegistryError(f'{where}: field \'id\': {merged["id"]!r} cannot be named by --rows; use letters, '
                            'digits and . _ + - (starting with a letter or digit), no commas or spaces')
    if merged['dataset'] not in DATASETS:
        raise RegistryError(f'{where}: field \'dataset\': unknown dataset {merged["dataset"]!r}; '
                            f'known: {", ".join(DATASETS)}')
    cited = bool(merged.get('cited', False))
    seeds = merged.get('seeds', [0])
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**32 for s in seeds):
        raise RegistryError(f'{where}: field \'seeds\' must be a non-empty list of integers 0..2**32-1, '
                            f'got {seeds!r}')
    stages = merged.get('stages', [])
    if not isinstance(stages, list) or not all(isinstance(s, str) for s in stages):
        raise RegistryError(f'{where}: field \'stages\' must be a list of stage names, got {stages!r}')
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise RegistryError(f'{where}: field \'stages\': unknown stage(s) {bad}; known: {", ".join(STAGES)}')
    for s in stages:
        need = STAGE_NEEDS.get(s)
        if need and need not in stages:
            raise RegistryError(f'{where}: field \'stages\': {s!r} needs {need!r} in the same row')
    published = merged.get('published', {})
    if not isinstance(published, Mapping):
        raise RegistryError(f'{where}: field \'published\' must be a table of metric = value')
    for k, v in published.items():
        if k not in METRICS:
            raise RegistryError(f'{where}: field \'published\': unknown metric {k!r}; known: {", ".join(METRICS)}')
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise RegistryError(f'{where}: field \'published\': {k} must be a number '
                                '(leave an unknown value out, never write 0)')
        if not math.isfinite(v) or v <= 0:
            raise RegistryError(f'{where}: field \'published\': {k} = {v} is not a published value (every '
                                'metric here is positive and finite); leave an unknown value out, never write 0')
        if k in PERCENT_METRICS and v > 100:
            raise RegistryError(f'{where}: field \'published\': {k} = {v} is above 100: an mIoU is a percentage '
                                '(0..100, e.g. 41.2); check the value against the paper')
    config = None
    if cited:
        if raw.get('config'):
            raise RegistryError(f'{where}: field \'config\': a cited row never runs and takes no config')
        stages = []
    else:
        if 'config' not in merged:
            raise RegistryError(f'{where}: missing field \'config\' (or mark the row cited = true)')
        _check_type(where, 'config', merged['config'], str, 'a path')
        config = _resolve_config(merged['config'], path)
        if config is None:
            raise RegistryError(f'{where}: field \'config\': no such config {merged["config"]!r} '
                                f'(looked beside the table and under {CONFIG_DIR})')
        if not stages:
            raise RegistryError(f'{where}: field \'stages\' is empty: nothing to run')
    tolerance = merged.get('tolerance', {})
    if not isinstance(tolerance, Mapping) or any(
            k not in METRICS or not isinstance(v, (int, float)) or isinstance(v, bool) or not v >= 0
            for k, v in tolerance.items()):
        raise RegistryError(f'{where}: field \'tolerance\' must be a table of metric = non-negative number '
                            f'(metrics: {", ".join(METRICS)}), got {tolerance!r}')
    approximate = merged.get('approximate', [])
    if not isinstance(approximate, list) or any(m not in METRICS for m in approximate):
        raise RegistryError(f'{where}: field \'approximate\' must be a list of metrics, got {approximate!r}')
    pipeline = merged.get('pipeline', 'official')
    if pipeline not in PIPELINES:
        raise RegistryError(f'{where}: field \'pipeline\': unknown pipeline {pipeline!r}; known: '
                            f'{", ".join(PIPELINES)}')
    gpu_hours = {**DEFAULT_GPU_HOURS, **merged.get('gpu_hours', {})}
    for name in ('gpus', 'nodes'):
        value = merged.get(name, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise RegistryError(f'{where}: field {name!r} must be a positive integer, got {value!r}')
    return Row(table=table, id=merged['id'], method=merged['method'],
               encoder=str(merged.get('encoder', '')), dataset=merged['dataset'],
               group=str(merged.get('group', '')), config=config, seeds=tuple(seeds),
               stages=tuple(s for s in STAGES if s in stages), schedule=str(merged.get('schedule', '')),
               published=dict(published), provenance=str(merged.get('provenance', '')),
               cited=cited, notes=str(merged.get('notes', '')), gpu_hours=gpu_hours,
               gpus=int(merged.get('gpus', 1)), nodes=int(merged.get('nodes', 1)), pipeline=pipeline, tolerance=dict(tolerance),
               approximate=tuple(approximate), table_dir=os.path.dirname(os.path.abspath(path)))


def read_toml(path: str, error=None, missing: str = 'no such file') -> Dict[str, Any]:
    """A TOML file as a dict; a missing or malformed file raises ``error``
    (RegistryError by default) naming the file."""
    error = error or RegistryError
    try:
        with open(path, 'rb') as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise error(f'{path}: {missing}') from None
    except tomllib.TOMLDecodeError as err:
        raise error(f'{path}: malformed TOML: {err}') from None


def load_table(path: str) -> Table:
    """Parses and validates one table file."""
    data = read_toml(path, missing='no such table file')
    unknown = set(data) - TABLE_FIELDS
    if unknown:
        raise RegistryError(f'{path}: unknown top-level field(s) {sorted(unknown)}; known: {sorted(TABLE_FIELDS)}')
    for name in ('name', 'title'):
        if not isinstance(data.get(name), str) or not data[name]:
            raise RegistryError(f'{path}: missing field {name!r} (a non-empty string)')
    rows_raw = data.get('rows')
    if not isinstance(rows_raw, list) or not rows_raw:
        raise RegistryError(f'{path}: no rows: add [[rows]] entries')
    defaults = data.get('defaults', {})
    if not isinstance(defaults, Mapping) or set(defaults) - ROW_FIELDS:
        raise RegistryError(f'{path}: field \'defaults\' may only hold row fields {sorted(ROW_FIELDS)}')
    rows, seen = [], set()
    for i, raw in enumerate(rows_raw):
        row = _parse_row(path, data['name'], i, raw, defaults)
        if row.id in seen:
            raise RegistryError(f'{path}: row {i + 1} ({row.id}): field \'id\': duplicate row id')
        seen.add(row.id)
        rows.append(row)
    metrics = tuple(data.get('metrics', ['miou']))
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        raise RegistryError(f'{path}: field \'metrics\': unknown metric(s) {bad}')
    profiles = data.get('profiles', {})
    for pname, prof in profiles.items():
        for rid in prof.get('rows', []):
            if rid not in seen:
                raise RegistryError(f'{path}: field \'profiles.{pname}.rows\': no row {rid!r}')
        bad = set(prof) - {'rows', 'every_row_stages'}
        if bad:
            raise RegistryError(f'{path}: [profiles.{pname}]: unknown field(s) {sorted(bad)}; '
                                f'known: rows, every_row_stages')
        bad = set(prof.get('every_row_stages', [])) - {'complexity', 'latency'}
        if bad:
            raise RegistryError(f'{path}: field \'profiles.{pname}.every_row_stages\': {sorted(bad)} cannot run on '
                                f'every row (model-only stages: complexity, latency)')
    reference = data.get('reference', '')
    if reference and reference not in seen:
        raise RegistryError(f'{path}: field \'reference\': no row {reference!r}')
    expectations = data.get('expectations', [])
    for i, e in enumerate(expectations):
        if not isinstance(e, Mapping) or e.get('row') not in seen or e.get('metric') not in metrics or \
                not isinstance(e.get('delta'), (int, float)) or not reference:
            raise RegistryError(f'{path}: expectations entry {i + 1} must give row (a row id), metric (one of the '
                                f'table\'s metrics), delta (a number) and needs a table reference row; got {e!r}')
    layout = data.get('layout', {})
    if layout:
        cols = layout.get('columns')
        if not isinstance(cols, list) or not cols or any(
                not isinstance(c, Mapping) or c.get('metric') not in metrics or c.get('dataset') not in DATASETS
                for c in cols):
            raise RegistryError(f'{path}: field \'layout.columns\' must list {{ metric = M, dataset = D }} entries '
                                f'with M among the table\'s metrics and D one of {", ".join(DATASETS)}')
    return Table(name=data['name'], title=data['title'], path=os.path.abspath(path), rows=tuple(rows),
                 source=str(data.get('source', '')), metrics=metrics, profiles=profiles,
                 notes=str(data.get('notes', '')), reference=reference, expectations=tuple(expectations),
                 layout=layout)


def tolerance_for(row: Row, metric: str) -> float:
    """The tolerance of a row's metric (see DEFAULT_TOLERANCE)."""
    if metric in row.tolerance:
        return float(row.tolerance[metric])
    if metric in row.approximate:
        return APPROXIMATE_TOLERANCE[metric]
    return DEFAULT_TOLERANCE[metric]


def table_dirs(extra: Sequence[str] = ()) -> List[str]:
    """The table folders, each once (a folder named twice, or a link to one
    already named, is read once)."""
    env = [d for d in os.environ.get('UMIX_TABLES', '').split(os.pathsep) if d]
    out, seen = [], set()
    for d in [TABLE_DIR, *env, *extra]:
        real = os.path.realpath(d)
        if real not in seen:
            seen.add(real)
            out.append(d)
    return out


def load_registry(extra_dirs: Sequence[str] = ()) -> Dict[str, Table]:
    """All tables: the built-in ones and those in ``extra_dirs`` / $UMIX_TABLES."""
    tables: Dict[str, Table] = {}
    for d in table_dirs(extra_dirs):
        if os.path.isfile(d):
            raise RegistryError(f'--tables {d} is a file; --tables (and $UMIX_TABLES) take folders of table '
                                f'files: use --tables {os.path.dirname(d) or "."}')
        if not os.path.isdir(d):
            raise RegistryError(f'table folder {d} does not exist')
        for fname in sorted(os.listdir(d)):
            if not fname.endswith('.toml'):
                continue
            table = load_table(os.path.join(d, fname))
            if table.name in tables:
                raise RegistryError(f'{table.path}: table name {table.name!r} is already defined in '
                                    f'{tables[table.name].path}')
            tables[table.name] = table
    return share_tolerances(tables)


def share_tolerances(tables: Dict[str, Table]) -> Dict[str, Table]:
    """A tolerance belongs to a model's published value, not to one table's row: a row
    stating one for a metric (e.g. SegFormer-B0's GFLOPs, the SegFormer paper's own
    count) lends it to every row of every table with the same config and the same
    published value of that metric, so the value gets one verdict wherever it appears.
    Two rows stating different tolerances for the same value are an error."""
    stated: Dict[Tuple[str, str, float], Tuple[float, str]] = {}
    for table in tables.values():
        for row in table.rows:
            for metric, tol in row.tolerance.items():
                if row.config is None or metric not in row.published:
                    continue
                fact = (row.config, metric, float(row.published[metric]))
                where = f'{table.name}/{row.id}'
                if fact in stated and stated[fact][0] != float(tol):
                    raise RegistryError(f'{where} states tolerance {metric} = {tol} for the published {fact[2]} of '
                                        f'{os.path.basename(row.config)}, {stated[fact][1]} states {stated[fact][0]}: '
                                        'one value, one tolerance (state it once, or the same in both)')
                stated.setdefault(fact, (float(tol), where))
    out = {}
    for name, table in tables.items():
        rows = []
        for row in table.rows:
            lent = {m: stated[(row.config, m, float(v))][0] for m, v in row.published.items()
                    if m not in row.tolerance and (row.config, m, float(v)) in stated}
            rows.append(replace(row, tolerance={**row.tolerance, **lent}) if lent else row)
        out[name] = replace(table, rows=tuple(rows))
    return out


def get_table(name: str, extra_dirs: Sequence[str] = ()) -> Table:
    tables = load_registry(extra_dirs)
    if name not in tables:
        raise RegistryError(f'unknown table {name!r}; known tables: {", ".join(sorted(tables))}')
    return tables[name]


def select_rows(table: Table, row_ids: Optional[Iterable[str]] = None) -> List[Row]:
    """The runnable rows, or those named (each must exist and be runnable)."""
    if not row_ids:
        return table.runnable()
    rows = []
    for rid in row_ids:
        row = table.row(rid)
        if row.cited:
            raise RegistryError(f'row {rid!r} of {table.name} is cited from another paper and never runs')
        rows.append(row)
    return rows
