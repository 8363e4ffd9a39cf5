"""Did it reproduce? Statistics over seeds and a verdict per row and metric.

For every row and metric: mean, std and count over seeds and a 95 % interval (a
percentile bootstrap of the mean over seeds when there are 3 or more; none below).
The verdict against the published value:

* ``reproduced``: the difference is within the tolerance (cost metrics relative,
  mIoU absolute; data in the metric catalogue: ``experiments.core.metrics``,
  a row's ``tolerance``, wider for ``approximate`` values read off a figure), or the
  value rounds to the published one (3.75 M params for a published 3.8);
* ``within noise``: outside the tolerance, but inside the seeds' 95 % interval;
* ``off by X``: neither;
* ``not measured``, ``no published value``, or ``built-in data: no comparison``
  (an mIoU measured on the built-in synthetic data says nothing about the paper's;
  params and GFLOPs are measured at the paper's input size whatever the profile and
  are compared).

Ablation tables also get each row's difference to the table's reference row over the
seeds both have (a paired interval with 3 or more), against the sign and size the paper
states where the registry gives one (``[[expectations]]``). The scorecard counts the verdicts
of a table's results (``analysis.results.TableResults.scorecard``).
"""
import math
from dataclasses import dataclass
from enum import Enum
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from experiments.core.metrics import metric as catalogue
from experiments.registry.profiles import compared
from experiments.registry.rows import Row
from experiments.registry.tolerance import tolerance_for

BOOTSTRAP_RESAMPLES = 10000


class Verdict(str, Enum):
    """Whether a value reproduces its published one (``judge``'s text, as a kind)."""
    REPRODUCED = 'reproduced'
    WITHIN_NOISE = 'within noise'
    OFF = 'off'
    NOT_MEASURED = 'not measured'
    NO_PUBLISHED = 'no published value'
    BUILTIN_DATA = 'built-in data: no comparison'

    @classmethod
    def of(cls, text: str) -> 'Verdict':
        return cls.OFF if text.startswith('off by') else cls(text)


# what the scorecard counts
VERDICTS = (Verdict.REPRODUCED, Verdict.WITHIN_NOISE, Verdict.OFF, Verdict.NOT_MEASURED)


def difference(metric: str, value: float, published: float) -> float:
    """value - published: in points for a percentage, else relative in % (published values
    are positive: the registry refuses others)."""
    return value - published if catalogue(metric).points else 100.0 * (value - published) / published


@dataclass
class Stat:
    values: List[float]
    seeds: List[Optional[int]]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if self.n > 1 else math.nan

    def interval(self) -> Tuple[float, float]:
        return bootstrap_interval(self.values)


def bootstrap_interval(values: Sequence[float], level: float = 0.95, seed: int = 0) -> Tuple[float, float]:
    """Percentile bootstrap interval of the mean; (nan, nan) with fewer than 3 values."""
    if len(values) < 3:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    v = np.asarray(values, dtype=float)
    means = v[rng.integers(0, len(v), size=(BOOTSTRAP_RESAMPLES, len(v)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def interval_text(n: int) -> str:
    return f'{n} seed{"s" if n != 1 else ""}: no interval' if n < 3 else ''


def rounding_half_width(published: float) -> float:
    """Half a unit of the published value's last decimal (3.8 -> 0.05, 41.2 -> 0.05, 125 -> 0.5)."""
    text = repr(float(published))
    decimals = len(text.split('.')[1].rstrip('0')) if '.' in text and 'e' not in text else 0
    return 0.5 * 10 ** -decimals


def judge(row: Row, metric: str, stat: Stat, profile: str) -> Dict[str, object]:
    """The verdict of one (row, metric): a dict of the numbers behind it."""
    pub = row.published.get(metric, math.nan)
    tol = tolerance_for(row, metric)
    lo, hi = stat.interval()
    out = dict(row=row.id, metric=metric, mean=stat.mean, std=stat.std, n=stat.n, ci_low=lo, ci_high=hi,
               interval=interval_text(stat.n), published=pub, tolerance=tol,
               tolerance_unit='points' if catalogue(metric).points else '%', diff=math.nan, verdict='', symbol='')
    if stat.n == 0:
        out.update(verdict='not measured', symbol='–')
        return out
    if math.isnan(pub):
        out.update(verdict='no published value', symbol='')
        return out
    if catalogue(metric).depends_on_data and not compared(profile):
        out.update(verdict='built-in data: no comparison', symbol='')
        return out
    diff = difference(metric, stat.mean, pub)
    out['diff'] = diff
    # a published value is rounded (3.8 M params stands for [3.75, 3.85]): a value that
    # rounds to it is reproduced whatever the tolerance
    if abs(diff) <= tol + 1e-9 or abs(stat.mean - pub) <= rounding_half_width(pub) + 1e-9:
        out.update(verdict='reproduced', symbol='✓')
    elif stat.n >= 3 and lo <= pub <= hi:
        out.update(verdict='within noise', symbol='≈')
    else:
        unit = ' points' if catalogue(metric).points else ' %'
        out.update(verdict=f'off by {diff:+.1f}{unit}', symbol='✗')
    return out
