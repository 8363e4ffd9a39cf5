"""How far a reproduced value may be from the published one and still be reproduced.

The catalogue (``experiments.core.metrics``) states each metric's tolerance; a row may
state its own, which then belongs to the model's published value wherever it appears."""
import os
from dataclasses import replace
from typing import Any, Dict, Tuple

from experiments.core.metrics import metric as catalogue_metric
from experiments.registry.rows import Row
from experiments.registry.schema import RegistryError


def tolerance_for(row: Row, name: str) -> float:
    """The tolerance of a row's metric: the row's own (or one it shares, below), the
    catalogue's wider one for a value read off a figure, else the catalogue's."""
    if name in row.tolerance:
        return float(row.tolerance[name])
    if name in row.approximate:
        return catalogue_metric(name).approximate_tolerance
    return catalogue_metric(name).tolerance


def share_tolerances(tables: Dict[str, Any]) -> Dict[str, Any]:
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
