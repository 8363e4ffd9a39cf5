"""The report's figures (matplotlib, Agg): each returns PNG bytes, or None when
there is nothing to plot. Each PNG carries what it draws (every marker series and
bar, read back from the figure's artists) as JSON in its ``umixformer:drawn`` text
chunk, so a figure can be checked by content (``drawn``)."""
import io
import json
import math
from typing import Dict, List, Optional

import pandas as pd

from experiments.core.metrics import metric as catalogue
from experiments.data.corruptions import CORRUPTIONS

FAMILY_MARKERS = ['o', 's', '^', 'D', 'v', 'P', 'X', '*', 'h', '<', '>']


DRAWN = 'umixformer:drawn'


def _artists(fig) -> List[dict]:
    """Every labelled line (its points) and every bar (its extent) of the figure."""
    out = []
    for ax in fig.axes:
        for line in ax.get_lines():
            if not line.get_label().startswith('_'):
                out.append(dict(label=line.get_label(), x=[float(v) for v in line.get_xdata()],
                                y=[float(v) for v in line.get_ydata()]))
        for patch in ax.patches:
            if hasattr(patch, 'get_width') and patch.get_width() and patch.get_height():
                out.append(dict(label='bar', x=[float(patch.get_x()), float(patch.get_width())],
                                y=[float(patch.get_y()), float(patch.get_height())]))
    return out


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=110, bbox_inches='tight', metadata={DRAWN: json.dumps(_artists(fig))})
    import matplotlib.pyplot as plt
    plt.close(fig)
    return buf.getvalue()


def drawn(png: bytes) -> List[dict]:
    """What a figure of this module draws (label, x, y per series; 'bar' per bar)."""
    from PIL import Image
    return json.loads(Image.open(io.BytesIO(png)).text[DRAWN])


def _family(method: str) -> str:
    return method.split(' (')[0].replace('-dagger', '').replace('-S', '')


def efficiency_scatter(df: pd.DataFrame, x: str, y: str, dataset: str = 'ade20k', profile: str = '',
                       comparable: bool = True) -> Optional[bytes]:
    """The paper's Figure 1: ``x`` (GFLOPs) vs ``y`` (mIoU) per method family; published
    points filled, reproduced points hollow (same marker). ``comparable=False`` (the built-in
    data): ``y`` is never drawn on the paper's axes, only the published points."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    d = df[df['dataset'] == dataset]
    if d.empty or f'{x}_published' not in d:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    plotted = False
    for i, (fam, rows) in enumerate(d.groupby(d['method'].map(_family), sort=False)):
        marker = FAMILY_MARKERS[i % len(FAMILY_MARKERS)]
        pub = rows.dropna(subset=[f'{x}_published', f'{y}_published'])
        color = f'C{i % 10}'
        if not pub.empty:
            ax.plot(pub[f'{x}_published'], pub[f'{y}_published'], marker=marker, ls='', color=color,
                    label=f'{fam} (paper)')
            plotted = True
        rep = rows.dropna(subset=[x, y]) if y in rows and comparable else rows.iloc[0:0]
        if not rep.empty:
            ax.plot(rep[x], rep[y], marker=marker, ls='', mfc='none', color=color,
                    label=f'{fam} (reproduced{", " + profile if profile else ""})')
            plotted = True
    if not plotted:
        plt.close(fig)
        return None
    ax.set_xscale('log')
    ax.set_xlabel(f'{catalogue(x).label} ({dataset}, log scale)')
    ax.set_ylabel(catalogue(y).label)
    ax.grid(alpha=0.3, which='both')
    ax.legend(fontsize=7, loc='center left', bbox_to_anchor=(1.01, 0.5))
    ax.set_title(f'Efficiency: {catalogue(x).label} vs {catalogue(y).label} (paper Figure 1)' + (
        '' if comparable else f'\npublished only: {catalogue(y).label} on the built-in data ({profile}) is not '
        'comparable'),
        fontsize=10)
    return _png(fig)


def ablation_deltas(frame: pd.DataFrame, metric: str, reference: str, comparable: bool) -> Optional[bytes]:
    """Each variant's difference to the reference row in ``metric`` (paired seeds), with
    its 95 % interval where there are 3 seeds or more; the paper's stated difference
    beside it when the data is comparable."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    d = frame[(frame['metric'] == metric) & frame['delta'].notna()] if not frame.empty else frame
    if d.empty:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(d) + 1.4))
    y = list(range(len(d)))
    lo = (d['delta'] - d['ci_low']).fillna(0).clip(lower=0)
    hi = (d['ci_high'] - d['delta']).fillna(0).clip(lower=0)
    ax.errorbar(d['delta'], y, xerr=[lo, hi], fmt='none', ecolor='C0', capsize=3)
    ax.plot(d['delta'], y, 'o', color='C0', label='measured (95 % interval, >= 3 seeds)')
    if comparable and d['expected'].notna().any():
        ax.plot(d['expected'], y, 'D', color='C3', mfc='none', label='paper')
    ax.axvline(0, color='0.4', lw=0.8)
    ax.set_yticks(y)
    ax.set_yticklabels([f'{r} (n={n})' for r, n in zip(d['row'], d['n'])], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f'{metric} difference to {reference}')
    ax.grid(axis='x', alpha=0.3)
    ax.legend(fontsize=7, loc='best')
    ax.set_title('Ablation: difference to the reference' + ('' if comparable else ' (built-in data)'), fontsize=10)
    return _png(fig)


def robustness_bars(per_corruption: Dict[str, Dict[str, float]]) -> Optional[bytes]:
    """Grouped bars: mIoU per corruption (x), one bar per model."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    if not per_corruption:
        return None
    models = list(per_corruption)
    width = 0.8 / len(models)
    fig, ax = plt.subplots(figsize=(10, 4))
    for i, model in enumerate(models):
        vals = [per_corruption[model].get(c, math.nan) for c in CORRUPTIONS]
        ax.bar([x + i * width for x in range(len(CORRUPTIONS))], vals, width, label=model)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(CORRUPTIONS))])
    ax.set_xticklabels([c.replace('_', ' ') for c in CORRUPTIONS], rotation=45, ha='right', fontsize=8)
    ax.set_ylabel('mIoU (%)')
    ax.set_title('Cityscapes-C: mIoU per corruption (noise: severities 1-3, others 1-5)')
    ax.legend(fontsize=8)
    ax.grid(axis='y', alpha=0.3)
    return _png(fig)


def latency_bars(frames: Dict[str, pd.DataFrame], metric: str, device: str = '') -> Optional[bytes]:
    """Measured ``metric`` (a latency) per model and computation (``frames``: label -> table
    frame, e.g. the official computation and --optimize), with the device each was timed on
    (the frames' ``device`` column); never beside the paper's values (another GPU)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    measured = {k: f.dropna(subset=[metric]) for k, f in frames.items() if metric in f}
    measured = {k: f for k, f in measured.items() if not f.empty}
    if not measured:
        return None
    models = list(dict.fromkeys(r for f in measured.values() for r in f['row']))
    height = 0.8 / len(measured)
    fig, ax = plt.subplots(figsize=(7.5, 0.5 * len(models) * max(1, len(measured) / 1.5) + 1.4))
    names = {}
    for i, (label, f) in enumerate(measured.items()):
        by_row = f.set_index('row')
        ys = [models.index(r) + i * height for r in by_row.index]
        ax.barh(ys, by_row[metric], height, color=f'C{i}', label=label)
        for r, line in by_row.iterrows():
            dev = line.get(device) if device else ''
            at = line.get(f'{metric}_at')
            names[r] = f'{line["method"]} ({line["encoder"]}, {line["dataset"]})' + (
                f' at {at}' if isinstance(at, str) and at else '') + (f' on {dev}' if isinstance(dev, str) and dev else '')
    ax.set_yticks([m + height * (len(measured) - 1) / 2 for m in range(len(models))])
    ax.set_yticklabels([names[m] for m in models], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f'{catalogue(metric).label}, measured')
    ax.grid(axis='x', alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title('Latency as measured (not comparable with the paper\'s A100 values)', fontsize=10)
    return _png(fig)


def per_class_bars(frame: pd.DataFrame, label: str) -> Optional[bytes]:
    """Per-class IoU difference (ours - baseline), sorted, one bar per class."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    if frame.empty:
        return None
    fig, ax = plt.subplots(figsize=(7.5, max(2.0, 0.16 * len(frame) + 1.2)))
    y = list(range(len(frame)))
    ax.barh(y, frame['diff'], color=['C2' if v >= 0 else 'C3' for v in frame['diff']])
    ax.set_yticks(y)
    ax.set_yticklabels(frame['cls'], fontsize=6 if len(frame) > 40 else 8)
    ax.invert_yaxis()
    ax.axvline(0, color='0.4', lw=0.8)
    ax.set_xlabel('IoU difference (points)')
    ax.grid(axis='x', alpha=0.3)
    ax.set_title(f'Per-class IoU: {label}', fontsize=10)
    return _png(fig)


def training_curves(frame: pd.DataFrame, row: str) -> Optional[bytes]:
    """Loss (and validation mIoU where logged) against iteration, one line per seed."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    d = frame[frame['row'] == row]
    if d.empty:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    ax2 = None
    for i, (seed, run) in enumerate(d.groupby('seed', dropna=False, sort=True)):
        state = run['status'].iloc[0]
        loss = run.dropna(subset=['loss'])
        ax.plot(loss['iter'], loss['loss'], color=f'C{i % 10}',
                label=f'seed {seed} loss' + ('' if state == 'done' else f' ({state})'))
        val = run.dropna(subset=['miou'])
        if not val.empty:
            ax2 = ax2 or ax.twinx()
            ax2.plot(val['iter'], val['miou'], 'o--', color=f'C{i % 10}', label=f'seed {seed} val mIoU')
    ax.set_xlabel('iteration')
    ax.set_ylabel('training loss')
    ax.grid(alpha=0.3)
    handles = ax.get_legend_handles_labels()
    if ax2 is not None:
        ax2.set_ylabel('validation mIoU (%)')
        more = ax2.get_legend_handles_labels()
        handles = (handles[0] + more[0], handles[1] + more[1])
    ax.legend(*handles, fontsize=7)
    ax.set_title(f'Training: {row}', fontsize=10)
    return _png(fig)
