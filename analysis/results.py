"""A table's results, read once: one ``Cell`` per (row, metric) with everything shown of it
(value over seeds, spread, seeds, published value, difference and its unit, verdict,
symbol, device, released checkpoints' value), from which the console comparison, the
HTML, LaTeX and CSV reports and the scorecard render. ``frame``, ``verdict_frame`` and
``ablation_frame`` are its pandas views.

``read_results`` is the one read: each record of the table's tasks is read from the store
once (``TableResults.records``); the presenters, the stages' figures, the curves and the
per-class differences receive the ``TableResults`` and nothing else. Nothing here names a
stage: what a stage adds is in its spec (``timed``, ``figures``) and the catalogue
(``Metric.beside``)."""
import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from analysis.collect import released_records
from analysis.deviations import Deviation, deviations, in_words, measured_input
from analysis.verdicts import (VERDICTS, Stat, Verdict, bootstrap_interval, difference,
                               interval_text, judge)
from experiments.core.metrics import CATALOGUE
from experiments.core.metrics import metric as catalogue
from experiments.core.stages import stage_spec, stage_specs
from experiments.planning.task import Task
from experiments.registry.profiles import compared
from experiments.registry.rows import Row
from experiments.registry.tables import Table
from experiments.registry.tolerance import tolerance_for
from experiments.store import Record, Store, current, finite



@dataclass(frozen=True)
class Cell:
    """One (row, metric): the mean over seeds and what it is judged with."""
    row: str
    metric: str
    value: float
    std: float
    n: int
    seeds: Tuple[Optional[int], ...]
    ci_low: float
    ci_high: float
    interval: str
    published: float
    diff: float  # in diff_unit
    diff_unit: str  # 'points' or '%'
    tolerance: float
    verdict: Verdict
    text: str  # the verdict as said ('off by +1.2 points')
    symbol: str
    released: float = math.nan  # mean over released checkpoints' evaluations

    def verdict_line(self) -> dict:
        """``verdict_frame``'s line (the judge's numbers)."""
        return dict(row=self.row, metric=self.metric, mean=self.value, std=self.std, n=self.n, ci_low=self.ci_low,
                    ci_high=self.ci_high, interval=self.interval, published=self.published,
                    tolerance=self.tolerance, tolerance_unit=self.diff_unit, diff=self.diff, verdict=self.text,
                    symbol=self.symbol)


@dataclass
class TableResults:
    """A table's tasks, their done records (read once) and a cell per (row, metric)."""
    table: Table
    tasks: Sequence[Task]
    profile: str
    records: Dict[str, Record]  # key -> its record (any status), read once
    released: Dict[tuple, list] = field(default_factory=dict)
    store: Optional['ReadOnce'] = None  # the store, answering from ``records``
    # label -> the results of another computation of the same table, drawn beside this one
    # (a stage's ``report_variants``, e.g. the optimized latency)
    variants: Dict[str, 'TableResults'] = field(default_factory=dict)
    _cells: Dict[Tuple[str, str], Cell] = field(default_factory=dict, repr=False)  # judged once
    _by_row: Dict[str, dict] = field(default_factory=dict, repr=False)  # row id -> its row_records
    _lines: Dict[str, dict] = field(default_factory=dict, repr=False)  # row id -> its line, made once
    _deviations: Dict[tuple, Optional[list]] = field(default_factory=dict, repr=False)
    # (row id, metric) -> another store's value, shown beside this one (report --against)
    against: Dict[Tuple[str, str], float] = field(default_factory=dict)
    against_label: str = ''

    def stage_records(self, stage: str, done: bool = False) -> List[Tuple[Task, Optional[Record]]]:
        """Every task of ``stage`` with its record (None: never computed; any status unless
        ``done``), in the tasks' order."""
        out = [(t, self.records.get(t.key)) for t in self.tasks if t.stage == stage]
        return [(t, r) for t, r in out if r is not None and current(r)] if done else out

    def stages(self) -> List[str]:
        """The stages of the table's tasks, in execution order."""
        present = {t.stage for t in self.tasks}
        return [s.name for s in stage_specs() if s.name in present]

    @property
    def compared(self) -> bool:
        """Whether its profile's data-dependent values are judged against the paper."""
        return compared(self.profile)

    def measured(self) -> int:
        """How many of the table's rows have a result."""
        return len({ref for t in self.tasks for ref in t.rows if self.store.is_done(t.key)})

    def row_records(self, row: Row) -> Dict[str, List[Tuple[Optional[int], Record]]]:
        """stage -> (seed, record) of the row's done records, by seed."""
        if row.id not in self._by_row:
            out: Dict[str, List[Tuple[Optional[int], Record]]] = {}
            ref = f'{self.table.name}/{row.id}'
            for t in self.tasks:
                if ref in t.rows and t.key in self.records and current(self.records[t.key]):
                    out.setdefault(t.stage, []).append((t.seed, self.records[t.key]))
            for pairs in out.values():
                pairs.sort(key=lambda p: (p[0] is None, p[0]))
            self._by_row[row.id] = out
        return self._by_row[row.id]

    def stat(self, row: Row, metric: str) -> Stat:
        m = catalogue(metric)
        recs = self.row_records(row)
        pairs = [(s, r.metrics[m.field]) for s, r in recs.get(m.stage, []) if finite(r.metrics.get(m.field))]
        return Stat([float(v) for _, v in pairs], [s for s, _ in pairs])

    def cell(self, row: Row, metric: str) -> Cell:
        if (row.id, metric) not in self._cells:
            self._cells[(row.id, metric)] = self._judged(row, metric)
        return self._cells[(row.id, metric)]

    def _judged(self, row: Row, metric: str) -> Cell:
        stat = self.stat(row, metric)
        j = judge(row, metric, stat, self.profile)
        field_ = catalogue(metric).field
        rel = [r.metrics[field_] for r in self.released.get((f'{self.table.name}/{row.id}', catalogue(metric).stage), [])
               if finite(r.metrics.get(field_))]
        return Cell(row.id, metric, j['mean'], j['std'], j['n'], tuple(stat.seeds),
                    j['ci_low'], j['ci_high'], j['interval'], j['published'], j['diff'], j['tolerance_unit'],
                    j['tolerance'], Verdict.of(j['verdict']), j['verdict'], j['symbol'],
                    sum(rel) / len(rel) if rel else math.nan)

    def cells(self, rows: Optional[Sequence[Row]] = None) -> Dict[Tuple[str, str], Cell]:
        return {(row.id, m): self.cell(row, m) for row in rows or self.table.rows for m in self.table.metrics}

    def line(self, row: Row) -> dict:
        """A row's facts: per metric the value, std, seeds, published value, released value and
        difference; the never-published metrics shown beside the published ones
        (``Metric.beside``), the device of each stage whose values belong to it
        (``StageSpec.timed``: ``<stage>_device``) and the provenance of the measurement."""
        if row.id not in self._lines:
            self._lines[row.id] = self._line(row)
        return dict(self._lines[row.id])

    def device_columns(self) -> Dict[str, str]:
        """metric -> the device column (``line``'s ``<stage>_device``) shown under it: under
        the first of the table's metrics of each stage whose values belong to their device."""
        out: Dict[str, str] = {}
        for m in self.table.metrics:
            stage = catalogue(m).stage
            if stage_spec(stage).timed and f'{stage}_device' not in out.values():
                out[m] = f'{stage}_device'
        return out

    def _line(self, row: Row) -> dict:
        recs = self.row_records(row)
        line = dict(table=self.table.name, row=row.id, group=row.group, method=row.method, encoder=row.encoder,
                    dataset=row.dataset, cited=row.cited, provenance=row.provenance)
        for m in self.table.metrics:
            c = self.cell(row, m)
            line.update({m: c.value, f'{m}_std': c.std, f'{m}_n': c.n, f'{m}_published': c.published,
                         f'{m}_released': c.released, f'{m}_at': self.measured_at(row, m) if c.n else ''})
            # beside the verdict's difference, the plain one; none where the value is never
            # compared (built-in data), as every other view says
            diff_name = f'{m}_diff' if c.diff_unit == 'points' else f'{m}_diff_pct'
            compared = c.verdict is not Verdict.BUILTIN_DATA
            line[diff_name] = difference(m, c.value, c.published) if compared else math.nan
        for spec in (s for s in stage_specs() if s.timed):  # a timing belongs to the device it ran on
            line[f'{spec.name}_device'] = recs[spec.name][0][1].device if spec.name in recs else ''
        for m in (m for m in CATALOGUE.values() if m.beside and m.stage in recs):
            line[m.name] = self.stat(row, m.name).mean
        src = next((r for rs in recs.values() for _, r in rs), None)
        line['config_hash'] = src.config_hash[:10] if src else ''
        line['git_revision'] = src.git_revision[:12] if src else ''
        line['device'] = src.device if src else ''
        return line

    def deviations(self, row: Row, metrics: Optional[Sequence[str]] = None) -> Optional[List[Deviation]]:
        """How the runs behind the row's values of ``metrics`` (default: the table's) differ from
        the paper's (``analysis.deviations``): the first seed's record of each of their stages,
        merged by fact. [] where none is measured; None where none keeps its recipe."""
        stages = list(dict.fromkeys(catalogue(m).stage for m in metrics or self.table.metrics))
        key = (row.id, tuple(stages))
        if key not in self._deviations:
            recs = self.row_records(row)
            found = [deviations(recs[s][0][1], row) for s in stages if recs.get(s)]
            merged: Dict[str, Deviation] = {}
            for devs in found:
                for d in devs or ():
                    merged.setdefault(d.name, d)
            self._deviations[key] = (list(merged.values()) if any(d is not None for d in found) or not found
                                     else None)
        return self._deviations[key]

    def measured_at(self, row: Row, metric: str) -> str:
        """The input size (WxH) the row's value of ``metric`` was measured at, where it is
        not the paper's ('' where it is, or where the value was measured on no input)."""
        recs = self.row_records(row).get(catalogue(metric).stage)
        found = measured_input(recs[0][1], row) if recs else None
        return found.run if found else ''

    def unlike_paper(self, rows: Optional[Sequence[Row]] = None) -> List[Tuple[Row, str]]:
        """(row, its deviations in words) for each row with a value off or within noise (✗, ≈):
        the runs behind those values, against the paper's."""
        out = []
        for row in rows or self.table.runnable():
            judged = [m for m in self.table.metrics if self.cell(row, m).verdict in (Verdict.OFF, Verdict.WITHIN_NOISE)]
            if judged:
                blame = [a for a in (self.attribution(row, m) for m in judged) if a]
                out.append((row, in_words(self.deviations(row, judged)) + ''.join(f'; {a}' for a in blame)))
        return out

    def attribution(self, row: Row, metric: str) -> str:
        """Where a value's gap lies, from the evaluation of the authors' released checkpoint of
        the row on the same data (``run-experiment evaluate``): '' without one. Reproduced by
        the released checkpoint: the gap is in training; off alike: the data or the evaluation
        differs from the paper's."""
        c = self.cell(row, metric)
        if not finite(c.released) or c.verdict not in (Verdict.OFF, Verdict.WITHIN_NOISE):
            return ''
        rel = judge(row, metric, Stat([c.released], [None]), self.profile)
        said = f'{metric} {c.value:.2f} trained, {c.released:.2f} from the released checkpoint (paper {c.published:g})'
        if rel['verdict'] == 'reproduced':
            return f'the gap is in training: {said}'
        if rel['diff'] * c.diff > 0:
            return f'the data or the evaluation differs from the paper\'s: {said}'
        return f'the released checkpoint is off the other way: {said}'

    def frame(self, rows: Optional[Sequence[Row]] = None) -> pd.DataFrame:
        """One ``line`` per row (cited rows included)."""
        return pd.DataFrame([self.line(row) for row in rows or self.table.rows])

    def report_frame(self) -> pd.DataFrame:
        """``frame`` with each metric's verdict, interval and tolerance beside it (the CSV):
        per (metric, field) column, empty for cited rows."""
        df = self.frame()
        runnable = {r.id for r in self.table.runnable()}
        if not runnable:
            return df
        for name in ('verdict', 'ci_low', 'ci_high', 'tolerance'):
            for m in sorted(self.table.metrics):
                cells = [self.cell(self.table.row(r), m) if r in runnable else None for r in df['row']]
                df[f'{m}_{name}'] = [getattr(c, 'text' if name == 'verdict' else name) if c else
                                     (None if name == 'verdict' else math.nan) for c in cells]
        return df

    def best(self, metric: str) -> set:
        """Row ids whose value of ``metric`` is the best of their dataset (cited rows aside)."""
        better = max if catalogue(metric).higher_is_better else min
        out = set()
        for dataset in {r.dataset for r in self.table.rows}:
            values = {r.id: self.cell(r, metric).value for r in self.table.rows
                      if r.dataset == dataset and not r.cited and finite(self.cell(r, metric).value)}
            if values:
                target = better(values.values())
                out |= {r for r, v in values.items() if v == target}
        return out

    def scorecard(self) -> Dict[str, object]:
        """Counts of the verdicts of the compared values, and the compute the table's records spent."""
        counts = {v: 0 for v in VERDICTS}
        for c in self.cells(self.table.runnable()).values():
            if c.verdict in counts:
                counts[c.verdict] += 1
        spent: Dict[str, Tuple[float, float]] = {}  # record key -> (GPU s, CPU s)
        for t in self.tasks:
            rec = self.records.get(t.key)
            if rec is None or t.key in spent:
                continue
            if rec.device.startswith('cuda'):
                spent[t.key] = (rec.wall_time_s * stage_spec(t.stage).processes(t.row.world_size), 0.0)
            else:
                spent[t.key] = (0.0, rec.wall_time_s)
        return dict(name=self.table.name, **{k.value.replace(' ', '_'): v for k, v in counts.items()},
                    gpu_hours=sum(g for g, _ in spent.values()) / 3600,
                    cpu_hours=sum(c for _, c in spent.values()) / 3600, spent=spent)

    def verdict_frame(self) -> pd.DataFrame:
        """One line per (runnable row, metric): mean, std, n, 95 % interval, published value,
        difference, tolerance and verdict."""
        cells = self.cells(self.table.runnable())
        return pd.DataFrame([c.verdict_line() for c in cells.values()])

    def ablation_frame(self) -> pd.DataFrame:
        """Each row's difference to the table's reference row (same seeds paired), with the
        paper's stated difference where the registry has one. Empty without a reference."""
        table = self.table
        if not table.reference:
            return pd.DataFrame()
        expect = {(e['row'], e['metric']): e for e in table.expectations}
        ref_row = table.row(table.reference)
        lines = []
        for row in table.runnable():
            if row.id == table.reference:
                continue
            for metric in table.metrics:
                a, ref = self.stat(row, metric), self.stat(ref_row, metric)
                common = sorted(set(a.seeds) & set(ref.seeds), key=lambda s: (s is None, s))
                diffs = [a.values[a.seeds.index(s)] - ref.values[ref.seeds.index(s)] for s in common]
                lines.append(_ablation_line(row, metric, table.reference, diffs, expect.get((row.id, metric)),
                                            self.profile))
        return pd.DataFrame(lines)


def _ablation_line(row: Row, metric: str, reference: str, diffs: List[float], e: Optional[dict],
                   profile: str) -> dict:
    lo, hi = bootstrap_interval(diffs)
    mean = float(np.mean(diffs)) if diffs else math.nan
    line = dict(row=row.id, metric=metric, reference=reference, delta=mean, n=len(diffs), ci_low=lo, ci_high=hi,
                interval=interval_text(len(diffs)), expected=e['delta'] if e else math.nan,
                expected_source=e.get('source', '') if e else '', verdict='')
    if e:
        if not diffs:
            line['verdict'] = 'not measured'
        elif catalogue(metric).depends_on_data and not compared(profile):
            line['verdict'] = 'built-in data: no comparison'
        elif np.sign(mean) != np.sign(e['delta']):
            line['verdict'] = f'opposite sign ({mean:+.2f} vs {e["delta"]:+.2f})'
        elif abs(mean - e['delta']) <= tolerance_for(row, metric) or (len(diffs) >= 3 and lo <= e['delta'] <= hi):
            line['verdict'] = 'as published'
        else:
            line['verdict'] = f'same sign, size {mean:+.2f} vs {e["delta"]:+.2f}'
    return line


class ReadOnce:
    """A store whose ``get`` answers from the records a ``TableResults`` read (the rest
    is the store's): the figures, curves and per-class tables read no record again."""

    def __init__(self, store: Store, records: Dict[str, Record], read: Sequence[str] = ()) -> None:
        self._store, self._records, self._read = store, records, set(read)

    def get(self, key: str) -> Optional[Record]:
        if key in self._records or key in self._read:  # read already (None: there is none)
            return self._records.get(key)
        return self._store.get(key)

    def is_done(self, key: str) -> bool:
        rec = self.get(key)
        return rec is not None and current(rec)

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def read_results(table: Table, tasks: Sequence[Task], store: Store, profile: Optional[str] = None) -> TableResults:
    """The table's results: each task's record read once, and the released
    checkpoints' evaluations of the profile."""
    profile = profile if profile is not None else (tasks[0].profile if tasks else '')
    records = {}
    for t in tasks:
        if t.key not in records:
            rec = store.get(t.key)
            if rec is not None:
                records[t.key] = rec
    return TableResults(table, tasks, profile, records, released_records(store, tasks[0].profile if tasks else ''),
                        ReadOnce(store, records, [t.key for t in tasks]))


__all__ = ['Cell', 'ReadOnce', 'TableResults', 'read_results']
