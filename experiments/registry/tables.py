"""The declarative experiment registry: each paper table is a TOML file of rows.

A row names its model config, dataset, schedule, seeds and stages, and carries
the published values with their provenance. Rows copied from other papers are
``cited = true``: they have no config and never run. Tables are validated on
load; every error names the file, the row and the field.

Adding a table is writing one file: put ``mytable.toml`` in ``experiments/tables``
or in a folder given by ``--tables DIR`` / ``UMIX_TABLES=DIR[:DIR...]``.
"""
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from experiments.core.metrics import published_metrics
from experiments.core.stages import stage_specs
from experiments.registry.rows import Row, parse_row
from experiments.registry.schema import DATASETS, ROW_FIELDS, TABLE_DIR, TABLE_FIELDS, RegistryError, read_toml
from experiments.registry.tolerance import share_tolerances


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
        row = parse_row(path, data['name'], i, raw, defaults)
        if row.id in seen:
            raise RegistryError(f'{path}: row {i + 1} ({row.id}): field \'id\': duplicate row id')
        seen.add(row.id)
        rows.append(row)
    metrics = tuple(data.get('metrics', ['miou']))
    bad = [m for m in metrics if m not in published_metrics()]
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
        model_only = [s.name for s in stage_specs() if s.model_only]
        bad = set(prof.get('every_row_stages', [])) - set(model_only)
        if bad:
            raise RegistryError(f'{path}: field \'profiles.{pname}.every_row_stages\': {sorted(bad)} cannot run on '
                                f'every row (model-only stages: {", ".join(model_only)})')
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
