"""Results as pandas DataFrames, with the published values beside them."""
import math
from dataclasses import asdict
from typing import Dict, List, Optional, Sequence

import pandas as pd

from experiments.core.metrics import metric as catalogue
from experiments.planning.tasks import Task
from experiments.registry.rows import Row
from experiments.registry.tables import Table
from experiments.store import DONE, Store, finite


def records_frame(store: Store) -> pd.DataFrame:
    """Every record of the store, one line each, metrics flattened as metric.*"""
    rows = []
    for rec in store.records():
        d = asdict(rec)
        metrics = d.pop('metrics')
        d.update({f'metric.{k}': v for k, v in metrics.items() if not isinstance(v, (list, dict))})
        rows.append(d)
    return pd.DataFrame(rows)


def released_records(store: Store, profile: str) -> Dict[tuple, list]:
    """(table/row, stage) -> done records of released-checkpoint evaluations."""
    out: Dict[tuple, list] = {}
    for rec in store.records():
        released = rec.settings.get('weights') == 'released' or rec.settings.get('source') == 'released'  # or older
        if rec.status == DONE and released and rec.profile == profile:
            for ref in rec.rows:
                out.setdefault((ref, rec.stage), []).append(rec)
    return out


def table_frame(table: Table, tasks: Sequence[Task], store: Store,
                rows: Optional[Sequence[Row]] = None) -> pd.DataFrame:
    """One line per row of ``table`` (cited rows included): for each metric of the
    table the reproduced value (mean over seeds), its std and seed count, the
    published value, the difference, and the provenance of the measurement."""
    by_row: Dict[str, List[Task]] = {}
    for t in tasks:
        for ref in t.rows:
            by_row.setdefault(ref, []).append(t)
    profile = tasks[0].profile if tasks else ''
    released = released_records(store, profile)
    lines = []
    for row in rows or table.rows:
        line = dict(table=table.name, row=row.id, group=row.group, method=row.method,
                    encoder=row.encoder, dataset=row.dataset, cited=row.cited,
                    provenance=row.provenance)
        recs = {}
        for t in by_row.get(f'{table.name}/{row.id}', []):
            rec = store.get(t.key)
            if rec is not None and rec.status == DONE:
                recs.setdefault(t.stage, []).append(rec)
        for metric in table.metrics:
            stage, field = catalogue(metric).stage, catalogue(metric).field
            values = [r.metrics[field] for r in recs.get(stage, []) if finite(r.metrics.get(field))]
            value = sum(values) / len(values) if values else math.nan
            pub = row.published.get(metric, math.nan)
            line[metric] = value
            line[f'{metric}_std'] = pd.Series(values).std() if len(values) > 1 else math.nan
            line[f'{metric}_n'] = len(values)
            line[f'{metric}_published'] = pub
            rel = [r.metrics[field] for r in released.get((f'{table.name}/{row.id}', stage), [])
                   if finite(r.metrics.get(field))]
            line[f'{metric}_released'] = sum(rel) / len(rel) if rel else math.nan
            if catalogue(metric).points:
                line[f'{metric}_diff'] = value - pub
            else:
                line[f'{metric}_diff_pct'] = 100.0 * (value - pub) / pub if pub else math.nan
        # a timing belongs to the device it ran on (the key does not say which)
        line['latency_device'] = recs['latency'][0].device if 'latency' in recs else ''
        if 'complexity' in recs:
            line['params_effective_m'] = recs['complexity'][0].metrics.get('params_m', math.nan)
        src = next((r for rs in recs.values() for r in rs), None)
        line['config_hash'] = src.config_hash[:10] if src else ''
        line['git_revision'] = src.git_revision[:12] if src else ''
        line['device'] = src.device if src else ''
        lines.append(line)
    return pd.DataFrame(lines)
