"""The store's records as a pandas DataFrame, and the released checkpoints' evaluations.

A table's results, judged against the paper, are ``analysis.results``."""
from dataclasses import asdict
from typing import Dict

import pandas as pd

from experiments.core.metrics import CATALOGUE
from experiments.store import Store, current


def records_frame(store: Store) -> pd.DataFrame:
    """Every record of the store, one line each, its numbers flattened as ``metric.<name>``:
    the catalogue's names (``params_m`` is the paper's count, ``params_effective_m`` the
    built one), other fields under their own."""
    rows = []
    for rec in store.records():
        d = asdict(rec)
        metrics = d.pop('metrics')
        named = {m.field for m in CATALOGUE.values() if m.stage == rec.stage}
        d.update({f'metric.{k}': v for k, v in metrics.items() if not isinstance(v, (list, dict)) and k not in named})
        d.update({f'metric.{m.name}': metrics[m.field] for m in CATALOGUE.values()
                  if m.stage == rec.stage and m.field in metrics})
        rows.append(d)
    return pd.DataFrame(rows)


def released_records(store: Store, profile: str) -> Dict[tuple, list]:
    """(table/row, stage) -> done records of released-checkpoint evaluations."""
    out: Dict[tuple, list] = {}
    for rec in store.records():
        released = rec.settings.get('weights') == 'released' or rec.settings.get('source') == 'released'  # or older
        if current(rec) and released and rec.profile == profile:
            for ref in rec.rows:
                out.setdefault((ref, rec.stage), []).append(rec)
    return out
