"""The metric catalogue: every metric the suite reads, stated once.

A metric's entry says which stage's record holds it and under which field, its unit and
column label, whether higher is better, how it is compared with the paper (differences in
points for percentages, relative otherwise), its tolerance (and the wider one for values
read off a figure) and how many digits it is printed with. The registry validates tables
against it, the store validates records, analysis judges with it, reports and the console
label and format with it.

Tolerances: cost metrics relative (%), mIoU absolute (points; mmsegmentation's own
benchmark regression uses 0.5). A row may state its own (``tolerance = { gflops = 3.0 }``,
with the reason in its notes), which every row with the same config and published value
shares (``experiments.registry.tolerance``).
"""
import math
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional


@dataclass(frozen=True)
class Metric:
    name: str
    stage: str  # the stage whose record holds it
    field: str  # the record's metrics field
    unit: str
    label: str  # column heading
    higher_is_better: bool
    tolerance: float = math.nan  # reproduced within this (points or %); NaN: never published
    approximate_tolerance: float = math.nan  # for a published value read off a figure
    points: bool = False  # a percentage: compared (and its tolerance stated) in points
    digits: int = 2
    summary: str = ''  # the console's one-line result, e.g. 'mIoU {}'
    in_status: Optional[bool] = None  # shown by `status` for a done record (None: if published)
    beside: str = ''  # a metric never published, shown beside this published one where a table lists it
    description: str = ''  # what it is, where its label does not say (a column's tooltip)

    @property
    def published(self) -> bool:
        """Whether a table can state a published value of it."""
        return not math.isnan(self.tolerance)

    @property
    def shown_in_status(self) -> bool:
        return self.published if self.in_status is None else self.in_status

    @property
    def depends_on_data(self) -> bool:
        """Measured on the dataset (not comparable on the built-in data), unlike a count or a timing."""
        return self.points

    @property
    def diff_label(self) -> str:
        return 'Δ' if self.points else 'Δ%'


CATALOGUE: Dict[str, Metric] = {m.name: m for m in (
    Metric('params_m', 'complexity', 'params_published_layout_m', 'M', 'Params (M)', False, 1.0, 2.0),
    # what this implementation builds (the official head keeps unused modules: 6.14 M published
    # for U-MixFormer-B0, 5.04 M built): its own name, params_m is the paper's count everywhere
    Metric('params_effective_m', 'complexity', 'params_m', 'M', 'Params eff. (M)', False, in_status=True,
           beside='params_m', description='parameters this implementation builds'),
    Metric('params_published_layout_m', 'complexity', 'params_published_layout_m', 'M', 'Params (M)', False, 1.0,
           2.0, in_status=False),  # params_m under its field's name
    Metric('gflops', 'complexity', 'gflops', 'GFLOPs', 'GFLOPs', False, 1.0, 2.0, summary='{} GFLOPs'),
    Metric('miou', 'test', 'miou', '%', 'mIoU (%)', True, 0.5, 1.0, points=True, summary='mIoU {}'),
    Metric('latency_ms', 'latency', 'latency_ms', 'ms', 'Latency (ms)', False, 5.0, 10.0, digits=1,
           summary='{} ms'),
    Metric('fps', 'latency', 'fps', 'img/s', 'FPS', True, 5.0, 10.0),
    Metric('miou_clean', 'robustness', 'miou_clean', '%', 'clean mIoU', True, 0.5, 1.0, points=True),
    Metric('miou_corrupted', 'robustness', 'miou_corrupted', '%', 'Cityscapes-C mIoU', True, 0.5, 1.0, points=True,
           summary='Cityscapes-C mIoU {}'),
    # measured, never published: what records and the console also read as numbers
    Metric('final_loss', 'train', 'final_loss', '', 'final loss', False, digits=3, summary='final loss {}',
           in_status=True),
    Metric('iters', 'train', 'iters', '', 'iterations', True, digits=0),
    Metric('mIoU', 'test', 'mIoU', '%', 'mIoU (mmseg)', True, points=True),
    Metric('aAcc', 'test', 'aAcc', '%', 'aAcc', True, points=True),
    Metric('mAcc', 'test', 'mAcc', '%', 'mAcc', True, points=True),
)}
# the console's result of a record: the first of these it holds (then any metric with a summary)
SUMMARY_ORDER = ('miou', 'gflops', 'latency_ms', 'miou_corrupted', 'final_loss')


def register_metric(m: Metric) -> Metric:
    """Adds a metric to the catalogue: tables may then list (and, with a tolerance, publish)
    it; its stage's records are read for it under ``field``."""
    if m.name in CATALOGUE:
        raise ValueError(f'metric {m.name!r} is in the catalogue already')
    CATALOGUE[m.name] = m
    return m


def published_metrics() -> tuple:
    """What a table may list and publish."""
    return tuple(name for name, m in CATALOGUE.items() if m.published)


def numeric_fields() -> frozenset:
    """The record fields a record's metrics must hold numbers in (else the record is damaged)."""
    return frozenset(CATALOGUE) | {m.field for m in CATALOGUE.values()}


def beside(metrics) -> tuple:
    """The never-published metrics shown beside these (a table's), in catalogue order."""
    return tuple(m for m in CATALOGUE.values() if m.beside and m.beside in metrics)


def metric(name: str) -> Metric:
    if name not in CATALOGUE:
        raise KeyError(f'unknown metric {name!r}; known: {", ".join(CATALOGUE)}')
    return CATALOGUE[name]


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(value: Any, digits: int = 2, signed: bool = False, empty: Optional[str] = None) -> Optional[str]:
    """A number as text (``digits`` decimals, a sign if ``signed``); a missing value is
    ``empty`` (None: the caller renders a dash), never 0."""
    if missing(value):
        return empty
    value = round(float(value), digits) + 0.0  # no '-0.0'
    return f'{value:+.{digits}f}' if signed else f'{value:.{digits}f}'


def summary(metrics: Mapping[str, Any]) -> str:
    """A record's result in a few words (the console's end line of a task)."""
    for name in SUMMARY_ORDER + tuple(n for n, m in CATALOGUE.items() if m.summary and n not in SUMMARY_ORDER):
        if name in metrics:
            m = CATALOGUE[name]
            text = m.summary.format(fmt(metrics[name], m.digits))
            if name == 'gflops' and 'params_published_layout_m' in metrics:
                text += f', {fmt(metrics["params_published_layout_m"])} M params'
            if name == 'final_loss':
                text = f'{metrics.get("iters")} iterations, ' + text
            return text
    return ''
