"""A table's row: what to run (config, dataset, stages, seeds) and what the paper published.

``parse_row`` validates one ``[[rows]]`` entry (merged with the table's defaults); every
error names the file, the row and the field."""
import math
import os
from dataclasses import dataclass, field
from typing import Any, List, Mapping, Optional, Tuple

from experiments.core.metrics import metric, published_metrics
from experiments.data.pipelines import PIPELINES
from experiments.core.stages import stage_names, stage_spec, stage_specs
from experiments.registry.schema import CONFIG_DIR, DATASETS, ROW_FIELDS, ROW_ID, RegistryError, check_type


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
    pipeline: str = 'official'  # evaluation pipeline, see experiments/data/pipelines.py
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


def resolve_config(value: str, table_path: str) -> Optional[str]:
    """A row's config path: absolute, beside the table, or under experiments/configs."""
    for base in ('', os.path.dirname(table_path), CONFIG_DIR):
        path = os.path.join(base, value) if base else value
        if os.path.isabs(path) and os.path.isfile(path):
            return os.path.normpath(path)
        if base and os.path.isfile(path):
            return os.path.abspath(path)
    return None


def _identity(where: str, merged: Mapping[str, Any]) -> None:
    for name in ('id', 'method', 'dataset'):
        if name not in merged:
            raise RegistryError(f'{where}: missing field {name!r}')
        check_type(where, name, merged[name], str, 'a string')
    if not ROW_ID.fullmatch(merged['id']):
        raise RegistryError(f'{where}: field \'id\': {merged["id"]!r} cannot be named by --rows; use letters, '
                            'digits and . _ + - (starting with a letter or digit), no commas or spaces')
    if merged['dataset'] not in DATASETS:
        raise RegistryError(f'{where}: field \'dataset\': unknown dataset {merged["dataset"]!r}; '
                            f'known: {", ".join(DATASETS)}')


def _seeds(where: str, merged: Mapping[str, Any]) -> List[int]:
    seeds = merged.get('seeds', [0])
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**32 for s in seeds):
        raise RegistryError(f'{where}: field \'seeds\' must be a non-empty list of integers 0..2**32-1, '
                            f'got {seeds!r}')
    return seeds


def _stages(where: str, merged: Mapping[str, Any]) -> List[str]:
    stages = merged.get('stages', [])
    if not isinstance(stages, list) or not all(isinstance(s, str) for s in stages):
        raise RegistryError(f'{where}: field \'stages\' must be a list of stage names, got {stages!r}')
    bad = [s for s in stages if s not in stage_names()]
    if bad:
        raise RegistryError(f'{where}: field \'stages\': unknown stage(s) {bad}; known: {", ".join(stage_names())}')
    for s in stages:
        need = stage_spec(s).needs
        if need and need not in stages:
            raise RegistryError(f'{where}: field \'stages\': {s!r} needs {need!r} in the same row')
    return stages


def _published(where: str, merged: Mapping[str, Any]) -> Mapping[str, float]:
    published = merged.get('published', {})
    if not isinstance(published, Mapping):
        raise RegistryError(f'{where}: field \'published\' must be a table of metric = value')
    for k, v in published.items():
        if k not in published_metrics():
            raise RegistryError(f'{where}: field \'published\': unknown metric {k!r}; known: {", ".join(published_metrics())}')
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise RegistryError(f'{where}: field \'published\': {k} must be a number '
                                '(leave an unknown value out, never write 0)')
        if not math.isfinite(v) or v <= 0:
            raise RegistryError(f'{where}: field \'published\': {k} = {v} is not a published value (every '
                                'metric here is positive and finite); leave an unknown value out, never write 0')
        if metric(k).points and v > 100:
            raise RegistryError(f'{where}: field \'published\': {k} = {v} is above 100: an mIoU is a percentage '
                                '(0..100, e.g. 41.2); check the value against the paper')
    return published


def _config(where: str, path: str, raw: Mapping[str, Any], merged: Mapping[str, Any], cited: bool,
            stages: List[str]) -> Optional[str]:
    if cited:
        if raw.get('config'):
            raise RegistryError(f'{where}: field \'config\': a cited row never runs and takes no config')
        return None
    if 'config' not in merged:
        raise RegistryError(f'{where}: missing field \'config\' (or mark the row cited = true)')
    check_type(where, 'config', merged['config'], str, 'a path')
    config = resolve_config(merged['config'], path)
    if config is None:
        raise RegistryError(f'{where}: field \'config\': no such config {merged["config"]!r} '
                            f'(looked beside the table and under {CONFIG_DIR})')
    if not stages:
        raise RegistryError(f'{where}: field \'stages\' is empty: nothing to run')
    return config


def _comparison(where: str, merged: Mapping[str, Any]) -> Tuple[Mapping[str, float], List[str]]:
    tolerance = merged.get('tolerance', {})
    if not isinstance(tolerance, Mapping) or any(
            k not in published_metrics() or not isinstance(v, (int, float)) or isinstance(v, bool) or not v >= 0
            for k, v in tolerance.items()):
        raise RegistryError(f'{where}: field \'tolerance\' must be a table of metric = non-negative number '
                            f'(metrics: {", ".join(published_metrics())}), got {tolerance!r}')
    approximate = merged.get('approximate', [])
    if not isinstance(approximate, list) or any(m not in published_metrics() for m in approximate):
        raise RegistryError(f'{where}: field \'approximate\' must be a list of metrics, got {approximate!r}')
    return tolerance, approximate


def _resources(where: str, merged: Mapping[str, Any]) -> None:
    pipeline = merged.get('pipeline', 'official')
    if pipeline not in PIPELINES:
        raise RegistryError(f'{where}: field \'pipeline\': unknown pipeline {pipeline!r}; known: '
                            f'{", ".join(PIPELINES)}')
    for name in ('gpus', 'nodes'):
        value = merged.get(name, 1)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise RegistryError(f'{where}: field {name!r} must be a positive integer, got {value!r}')


def parse_row(path: str, table: str, index: int, raw: Mapping[str, Any], defaults: Mapping[str, Any]) -> Row:
    """Row ``index`` of table file ``path``, validated."""
    rid = raw.get('id') if isinstance(raw, Mapping) else None
    where = f'{path}: row {index + 1}' + (f' ({rid})' if rid else '')
    if not isinstance(raw, Mapping):
        raise RegistryError(f'{where}: a row must be a table ([[rows]]), got {raw!r}')
    unknown = set(raw) - ROW_FIELDS
    if unknown:
        raise RegistryError(f'{where}: unknown field(s) {sorted(unknown)}; known: {sorted(ROW_FIELDS)}')
    merged = {**defaults, **raw}
    _identity(where, merged)
    cited = bool(merged.get('cited', False))
    seeds, stages, published = _seeds(where, merged), _stages(where, merged), _published(where, merged)
    config = _config(where, path, raw, merged, cited, stages)
    if cited:
        stages = []
    tolerance, approximate = _comparison(where, merged)
    _resources(where, merged)
    return Row(table=table, id=merged['id'], method=merged['method'],
               encoder=str(merged.get('encoder', '')), dataset=merged['dataset'],
               group=str(merged.get('group', '')), config=config, seeds=tuple(seeds),
               stages=tuple(s for s in stage_names() if s in stages), schedule=str(merged.get('schedule', '')),
               published=dict(published), provenance=str(merged.get('provenance', '')),
               cited=cited, notes=str(merged.get('notes', '')),
               gpu_hours={**{s.name: s.gpu_hours for s in stage_specs()}, **merged.get('gpu_hours', {})},
               gpus=int(merged.get('gpus', 1)), nodes=int(merged.get('nodes', 1)),
               pipeline=merged.get('pipeline', 'official'), tolerance=dict(tolerance),
               approximate=tuple(approximate), table_dir=os.path.dirname(os.path.abspath(path)))
