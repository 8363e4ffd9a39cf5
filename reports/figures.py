"""The figures the stages declare (``StageSpec.figures``): each ``f(results, stage,
**options) -> Contribution`` draws from a table's results (``analysis.results``), the
records of its own ``stage`` and the names its declaration gives; none names a stage."""
from analysis.curves import training_curves as read_curves
from analysis.per_class import gains_and_losses, per_class_differences
from analysis.results import TableResults
from experiments.core.metrics import fmt
from experiments.core.metrics import metric as catalogue
from experiments.core.stages import stage_spec

from . import plots
from .contribution import Contribution


def training_curves(results: TableResults, stage: str) -> Contribution:
    """Loss (and validation mIoU) against iteration per row, from mmengine's scalar logs."""
    curves = read_curves(results, stage)
    out = Contribution()
    for row in dict.fromkeys(curves['row']):
        png = plots.training_curves(curves, row)
        if png:
            out.figures[f'curves-{row}'] = png
    return out


def per_class(results: TableResults, stage: str) -> Contribution:
    """Per-class IoU of U-MixFormer against each baseline: the sorted differences drawn, the
    largest gains and losses listed (HTML and LaTeX)."""
    out = Contribution()
    for p in per_class_differences(results, stage):
        png = plots.per_class_bars(p['frame'], p['label'])
        if png:
            out.figures[f'per-class-{p["ours"]}-vs-{p["baseline"]}'] = png
        out.class_tables.append(dict(
            label=p['label'], seeds=', '.join(map(str, p['seeds'])), classes=len(p['frame']),
            **{k: [dict(cls=x['cls'], ours=fmt(x['ours'], 2), baseline=fmt(x['baseline'], 2),
                        diff=fmt(x['diff'], 2, signed=True)) for x in v]
               for k, v in gains_and_losses(p['frame']).items()}))
    return out


def efficiency(results: TableResults, stage: str, x: str, y: str) -> Contribution:
    """The paper's Figure 1 (``x`` against ``y``, per dataset) where the table lists both and
    is no ablation (an ablation charts its differences to the reference); a value measured
    on the built-in data is never drawn on the paper's axes."""
    table = results.table
    if table.reference or not {x, y} <= set(table.metrics):
        return Contribution()
    df = results.frame()
    comparable = results.compared or not catalogue(y).depends_on_data
    out = Contribution()
    for ds in dict.fromkeys(r.dataset for r in table.rows):
        png = plots.efficiency_scatter(df, x, y, ds, results.profile, comparable)
        if png:
            out.figures[f'efficiency-{ds}'] = png
    return out


def latency(results: TableResults, stage: str, metric: str) -> Contribution:
    """``metric`` as measured per model, beside the other computations of the report
    (``results.variants``), with the device each ran on; never beside the paper's values."""
    if results.table.reference or metric not in results.table.metrics:
        return Contribution()
    frames = {'this run\'s computation': results.frame(), **{k: v.frame() for k, v in results.variants.items()}}
    device = f'{stage}_device' if stage_spec(stage).timed else ''
    png = plots.latency_bars(frames, metric, device)
    return Contribution(figures={'latency': png} if png else {})


def corruptions(results: TableResults, stage: str) -> Contribution:
    """mIoU per corruption, one bar per model, from the stage's ``per_corruption``."""
    per = {f'{t.row.method} ({t.row.encoder})': rec.metrics['per_corruption']
           for t, rec in results.stage_records(stage, done=True) if 'per_corruption' in rec.metrics}
    png = plots.robustness_bars(per)
    return Contribution(figures={'robustness': png} if png else {})
