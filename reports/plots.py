"""The report's figures (matplotlib, Agg): each returns PNG bytes, or None when
there is nothing to plot."""
import io
import math
from typing import Dict, Optional

import pandas as pd

FAMILY_MARKERS = ['o', 's', '^', 'D', 'v', 'P', 'X', '*', 'h', '<', '>']


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=110, bbox_inches='tight')
    import matplotlib.pyplot as plt
    plt.close(fig)
    return buf.getvalue()


def _family(method: str) -> str:
    return method.split(' (')[0].replace('-dagger', '').replace('-S', '')


def efficiency_scatter(df: pd.DataFrame, dataset: str = 'ade20k', profile: str = '') -> Optional[bytes]:
    """The paper's Figure 1: GFLOPs vs mIoU per method family; published points
    filled, reproduced points hollow (same marker), joined by a line."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    d = df[df['dataset'] == dataset]
    if d.empty or 'gflops_published' not in d:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    plotted = False
    for i, (fam, rows) in enumerate(d.groupby(d['method'].map(_family), sort=False)):
        marker = FAMILY_MARKERS[i % len(FAMILY_MARKERS)]
        pub = rows.dropna(subset=['gflops_published', 'miou_published'])
        color = f'C{i % 10}'
        if not pub.empty:
            ax.plot(pub['gflops_published'], pub['miou_published'], marker=marker, ls='', color=color,
                    label=f'{fam} (paper)')
            plotted = True
        rep = rows.dropna(subset=['gflops', 'miou']) if 'miou' in rows else rows.iloc[0:0]
        if not rep.empty:
            ax.plot(rep['gflops'], rep['miou'], marker=marker, ls='', mfc='none', color=color,
                    label=f'{fam} (reproduced{", " + profile if profile else ""})')
            plotted = True
    if not plotted:
        plt.close(fig)
        return None
    ax.set_xscale('log')
    ax.set_xlabel(f'GFLOPs ({dataset}, log scale)')
    ax.set_ylabel('mIoU (%)')
    ax.grid(alpha=0.3, which='both')
    ax.legend(fontsize=7, loc='center left', bbox_to_anchor=(1.01, 0.5))
    ax.set_title('Efficiency: GFLOPs vs mIoU (paper Figure 1)')
    return _png(fig)


def robustness_bars(per_corruption: Dict[str, Dict[str, float]]) -> Optional[bytes]:
    """Grouped bars: mIoU per corruption (x), one bar per model."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from experiments.corruptions import CORRUPTIONS
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


def latency_scatter(df: pd.DataFrame) -> Optional[bytes]:
    """Latency (ms) vs mIoU (reproduced where measured, else published)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    if 'latency_ms' not in df:
        return None
    d = df.dropna(subset=['latency_ms'])
    if d.empty:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for i, (_, r) in enumerate(d.iterrows()):
        miou = r.get('miou')
        src = 'reproduced'
        if miou is None or (isinstance(miou, float) and math.isnan(miou)):
            miou, src = r.get('miou_published', math.nan), 'paper mIoU'
        ax.plot(r['latency_ms'], miou, marker=FAMILY_MARKERS[i % len(FAMILY_MARKERS)], ls='',
                label=f'{r["method"]} ({r["encoder"]}) [{src}]')
    ax.set_xlabel(f'latency per image (ms), {d.iloc[0].get("device", "")}')
    ax.set_ylabel('mIoU (%)')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title('Latency vs mIoU')
    return _png(fig)
