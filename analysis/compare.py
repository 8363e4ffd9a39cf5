"""Two stores side by side (``run-experiment compare A B``): a colleague's store, the same
table on two clusters, the suite before and after an upgrade.

Records are paired by table, row, stage, seed and profile, not by key: a changed config or
option changes the key, and that is the case to explain. Per (table, row, stage, profile)
each metric of the catalogue: A, B, their difference and whether it is beyond the seeds'
noise (paired seeds, the verdicts' bootstrap interval, where both stores have several),
the paper's value beside; per pair of records that differ, how they were produced
differently: the resolved config as a unified diff (the text each record keeps in its
store, ``Store.keep_config``), the settings, packages, device, git revision, data, weights,
resumes, stage version and wall time. Both stores are read only (``Store(read_only=True)``):
no lock, lease, cache or moved file; a damaged record is named and skipped."""
import difflib
import math
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from analysis.verdicts import bootstrap_interval
from experiments.core.errors import SuiteError
from experiments.core.metrics import CATALOGUE
from experiments.core.stages import stage_names
from experiments.registry.tables import load_registry
from experiments.store import DONE, Record, Store

# (table, row, stage, profile) and the seed
Group = Tuple[str, str, str, str]


class CompareError(SuiteError, ValueError):
    """A path given to compare is not a store (or not a log)."""


@dataclass
class Side:
    """One store, read once: its done records by (group, seed), the damaged ones named."""
    root: str
    records: Dict[Tuple[Group, Optional[int]], Record]
    damaged: List[Tuple[str, str]]  # (file, why)
    store: Store

    def config_text(self, rec: Record) -> Optional[str]:
        rel = rec.artifacts.get('resolved_config')
        path = self.store.abs(rel) if rel else ''
        if not path or not os.path.isfile(path):
            return None
        with open(path) as f:
            return f.read()


def read_side(root: str) -> Side:
    """A store's done records, without writing anything in it."""
    if not os.path.isdir(os.path.join(root, 'records')):
        raise CompareError(f'{root} is not a results store (no records/ folder in it): give a --runs-dir '
                           'folder that `run-experiment run` wrote')
    store = Store(root, read_only=True)
    records: Dict[Tuple[Group, Optional[int]], Record] = {}
    for rec in store.records():
        if rec.status != DONE:
            continue
        for ref in rec.rows or ['?/?']:
            table, _, row = ref.partition('/')
            records[((table, row, rec.stage, rec.profile), rec.seed)] = rec
    return Side(store.root, records, [(p, why) for p, _, why in store.moved], store)


@dataclass
class MetricDiff:
    name: str
    a: float
    b: float
    diff: float
    n: int  # paired seeds
    ci_low: float
    ci_high: float
    beyond_noise: Optional[bool]  # None: fewer than 2 paired seeds, no interval
    paper: float

    def noise_text(self) -> str:
        if self.beyond_noise is None:
            return f'{self.n} paired seed(s): no interval'
        inside = 'beyond' if self.beyond_noise else 'within'
        return f'{inside} the seeds\' noise (95 % interval [{self.ci_low:+.2f}, {self.ci_high:+.2f}], n={self.n})'


@dataclass
class Production:
    """How the two records of a pair were produced differently."""
    seed: Optional[int]
    key_a: str
    key_b: str
    fields: List[Tuple[str, str, str]] = field(default_factory=list)  # (what, A, B)
    config_diff: List[str] = field(default_factory=list)  # unified diff lines


@dataclass
class PairedGroup:
    group: Group
    seeds: List[Optional[int]]
    metrics: List[MetricDiff]
    production: List[Production]

    @property
    def differs(self) -> bool:
        return any(m.diff != 0 for m in self.metrics) or any(p.fields or p.config_diff for p in self.production)


@dataclass
class Comparison:
    a: Side
    b: Side
    groups: List[PairedGroup]
    only_a: List[Tuple[Group, Optional[int]]]
    only_b: List[Tuple[Group, Optional[int]]]

    @property
    def same(self) -> bool:
        return not self.only_a and not self.only_b and not any(g.differs for g in self.groups)

    def as_dict(self, everything: bool = False) -> Dict[str, Any]:
        def group_name(g: Group) -> Dict[str, str]:
            return dict(zip(('table', 'row', 'stage', 'profile'), g))
        return dict(
            a=self.a.root, b=self.b.root, same=self.same,
            damaged={'a': [dict(file=p, why=w) for p, w in self.a.damaged],
                     'b': [dict(file=p, why=w) for p, w in self.b.damaged]},
            only_a=[dict(group_name(g), seed=s) for g, s in self.only_a],
            only_b=[dict(group_name(g), seed=s) for g, s in self.only_b],
            pairs=[dict(group_name(g.group), seeds=g.seeds,
                        metrics=[_clean(vars(m)) for m in g.metrics],
                        production=[dict(seed=p.seed, key_a=p.key_a, key_b=p.key_b,
                                         differences=[dict(what=w, a=x, b=y) for w, x, y in p.fields],
                                         config_diff=p.config_diff) for p in g.production])
                   for g in self.groups if everything or g.differs])


def _clean(d: Dict[str, Any]) -> Dict[str, Any]:
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}


def _metrics(stage: str) -> List[str]:
    return [m.name for m in CATALOGUE.values() if m.stage == stage]


def _mean(values: List[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _number(rec: Record, field_: str) -> Optional[float]:
    v = rec.metrics.get(field_)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _paper(group: Group, metric: str, registry: Dict[str, Any]) -> float:
    table = registry.get(group[0])
    try:
        return float(table.row(group[1]).published.get(metric, math.nan)) if table else math.nan
    except SuiteError:  # a row this suite does not know: no paper value
        return math.nan


def _fields(a: Record, b: Record) -> List[Tuple[str, str, str]]:
    out: List[Tuple[str, str, str]] = []

    def add(what: str, x: Any, y: Any) -> None:
        if x != y:
            out.append((what, '' if x is None else str(x), '' if y is None else str(y)))
    add('config hash', a.config_hash, b.config_hash)
    for k in sorted(set(a.settings) | set(b.settings)):
        add(f'setting {k}', a.settings.get(k), b.settings.get(k))
    for k in sorted(set(a.packages) | set(b.packages)):
        add(f'package {k}', a.packages.get(k), b.packages.get(k))
    add('device', a.device, b.device)
    add('git revision', a.git_revision, b.git_revision)
    ra, rb = a.recipe or {}, b.recipe or {}
    da, db = ra.get('data') or {}, rb.get('data') or {}
    add('data (identity of its files)', da.get('fingerprint'), db.get('fingerprint'))
    add('data pairs', da.get('pairs'), db.get('pairs'))
    add('encoder weights', ra.get('pretrained'), rb.get('pretrained'))
    add('weights loaded (load_from)', (a.metrics.get('load_from') or {}).get('sha256'),
        (b.metrics.get('load_from') or {}).get('sha256'))
    add('resumed from', a.resumed_from, b.resumed_from)
    add('stage version', a.version, b.version)
    if (a.recipe is None) != (b.recipe is None):
        add('recipe kept', a.recipe is not None, b.recipe is not None)
    if a.wall_time_s and b.wall_time_s and abs(a.wall_time_s - b.wall_time_s) > 0.2 * max(a.wall_time_s, b.wall_time_s):
        add('wall time', f'{a.wall_time_s:.1f} s', f'{b.wall_time_s:.1f} s')
    return out


def _config_diff(side_a: Side, side_b: Side, a: Record, b: Record) -> List[str]:
    if a.config_hash == b.config_hash:
        return []
    ta, tb = side_a.config_text(a), side_b.config_text(b)
    if ta is None or tb is None:
        missing = 'A' if ta is None else 'B'
        return [f'(the resolved config of {missing}\'s record is not kept in its store: a record of an older '
                'version of the suite; the config hashes differ)']
    return [line.rstrip('\n') for line in difflib.unified_diff(ta.splitlines(), tb.splitlines(), 'A', 'B', lineterm='',
                                                                 n=0)]


def compare(a: Side, b: Side, table: Optional[str] = None, rows: Optional[Sequence[str]] = None,
            stages: Optional[Sequence[str]] = None, tables: Sequence[str] = ()) -> Comparison:
    """The pairs of records of ``a`` and ``b`` (the selection's), grouped by (table, row,
    stage, profile); the paper's values from the registry (and the table folders ``tables``)."""
    def chosen(k: Tuple[Group, Optional[int]]) -> bool:
        (t, r, s, _), _seed = k
        return (table is None or t == table) and (rows is None or r in rows) and (stages is None or s in stages)
    ka = {k for k in a.records if chosen(k)}
    kb = {k for k in b.records if chosen(k)}
    both = ka & kb
    registry = load_registry(tables)
    groups: Dict[Group, List[Optional[int]]] = {}
    for g, seed in sorted(both, key=_order):
        groups.setdefault(g, []).append(seed)
    out = []
    for g, seeds in groups.items():
        metrics = []
        for name in _metrics(g[2]):
            f = CATALOGUE[name].field
            pairs = [(x, y) for x, y in ((_number(a.records[(g, s)], f), _number(b.records[(g, s)], f)) for s in seeds)
                     if x is not None and y is not None]
            if not pairs:
                continue
            diffs = [y - x for x, y in pairs]
            lo, hi = bootstrap_interval(diffs) if len(diffs) >= 2 else (math.nan, math.nan)
            beyond = None if len(diffs) < 2 else not (lo <= 0.0 <= hi)
            metrics.append(MetricDiff(name, _mean([x for x, _ in pairs]), _mean([y for _, y in pairs]),
                                      _mean(diffs), len(diffs), lo, hi, beyond, _paper(g, name, registry)))
        production = []
        for s in seeds:
            ra, rb = a.records[(g, s)], b.records[(g, s)]
            p = Production(s, ra.key, rb.key, _fields(ra, rb), _config_diff(a, b, ra, rb))
            production.append(p)
        out.append(PairedGroup(g, seeds, metrics, production))
    return Comparison(a, b, out, sorted(ka - kb, key=_order), sorted(kb - ka, key=_order))


def _order(k: Tuple[Group, Optional[int]]):
    """Table, row, then the stages in execution order (train before test), profile, seed."""
    (table, row, stage, profile), seed = k
    order = {name: i for i, name in enumerate(stage_names())}
    return (table, row, order.get(stage, len(order)), stage, profile, -1 if seed is None else seed)


def means(side: Side, table: str, profile: str) -> Dict[Tuple[str, str], float]:
    """(row id, metric) -> the mean over seeds of a store's values of a table and profile
    (``report TABLE --against RUNS_B``: the other store's column, paired as ``compare`` pairs)."""
    values: Dict[Tuple[str, str], List[float]] = {}
    for ((t, row, stage, prof), _), rec in side.records.items():
        if t != table or prof != profile:
            continue
        for name in _metrics(stage):
            v = _number(rec, CATALOGUE[name].field)
            if v is not None:
                values.setdefault((row, name), []).append(v)
    return {k: _mean(v) for k, v in values.items()}


def fmt_number(v: float) -> str:
    return '—' if v is None or (isinstance(v, float) and math.isnan(v)) else f'{v:.2f}'


def lines(c: Comparison, everything: bool = False) -> Iterable[str]:
    """The comparison as Markdown (also what the console prints)."""
    yield f'# {c.a.root} (A) vs {c.b.root} (B)'
    for side, name in ((c.a, 'A'), (c.b, 'B')):
        for path, why in side.damaged:
            yield f'- damaged record in {name}, skipped: {path} ({why})'
    shown = [g for g in c.groups if everything or g.differs]
    if c.same:
        yield f'no differences: {len(c.groups)} paired (table, row, stage, profile), ' \
              f'{sum(len(g.seeds) for g in c.groups)} record pair(s)'
    for g in shown:
        table, row, stage, profile = g.group
        seeds = ', '.join('-' if s is None else str(s) for s in g.seeds)
        yield ''
        yield f'## {table}/{row} {stage} ({profile}; seeds {seeds})'
        if g.metrics:
            yield '| metric | A | B | B - A | noise | paper |'
            yield '| --- | ---: | ---: | ---: | --- | ---: |'
            for m in g.metrics:
                yield (f'| {m.name} | {fmt_number(m.a)} | {fmt_number(m.b)} | {m.diff:+.2f} | {m.noise_text()} | '
                       f'{fmt_number(m.paper)} |')
        for p in g.production:
            if not p.fields and not p.config_diff:
                continue
            yield f'- seed {"-" if p.seed is None else p.seed}: produced differently'
            for what, x, y in p.fields:
                yield f'  - {what}: A {x or "(none)"} | B {y or "(none)"}'
            if p.config_diff:
                yield '  - resolved config (unified diff, A -> B):'
                yield '    ```diff'
                for line in p.config_diff:
                    yield f'    {line}'
                yield '    ```'
    for name, only in (('A', c.only_a), ('B', c.only_b)):
        if only:
            yield ''
            yield f'only in {name} ({len(only)}):'
            for (t, r, s, prof), seed in only:
                yield f'- {t}/{r} {s} ({prof}; seed {"-" if seed is None else seed})'


def csv_frame(c: Comparison, everything: bool = False):
    """One line per (group, metric): A, B, difference, interval, paper."""
    import pandas as pd
    rows = []
    for g in c.groups:
        if not (everything or g.differs):
            continue
        for m in g.metrics:
            rows.append(dict(zip(('table', 'row', 'stage', 'profile'), g.group), metric=m.name, a=m.a, b=m.b,
                             diff=m.diff, n=m.n, ci_low=m.ci_low, ci_high=m.ci_high,
                             beyond_noise=m.beyond_noise, paper=m.paper))
    return pd.DataFrame(rows)
