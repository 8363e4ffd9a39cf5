"""Which classes moved: per-class IoU of U-MixFormer against each baseline at the same
encoder and dataset, from the evaluation's records (``per_class_iou``, the numbers mmseg's
class table logs), averaged over the seeds both rows have."""
from typing import Dict, List

import pandas as pd

from analysis.results import TableResults

OURS = 'U-MixFormer'
BASELINES = ('SegFormer', 'FeedFormer')
SHOWN = 5  # largest gains and losses listed


def _per_seed(results: TableResults, stage: str) -> Dict[str, Dict[int, Dict[str, float]]]:
    """row id -> seed -> class -> IoU, from the stage's done records that hold them."""
    out: Dict[str, Dict[int, Dict[str, float]]] = {}
    for t, rec in results.stage_records(stage, done=True):
        if isinstance(rec.metrics.get('per_class_iou'), dict):
            out.setdefault(t.row.id, {})[t.seed] = rec.metrics['per_class_iou']
    return out


def per_class_differences(results: TableResults, stage: str) -> List[dict]:
    """For each (U-MixFormer row, baseline row) pair at one encoder and dataset with
    per-class results: pair label, row ids, seeds compared, and a frame of the classes
    present in both (class, ours, baseline, diff), sorted from the largest gain down."""
    measured = _per_seed(results, stage)
    rows = {r.id: r for r in results.table.runnable()}
    pairs = []
    for ours in (r for r in rows.values() if r.method == OURS and r.id in measured):
        for other in (r for r in rows.values() if r.method in BASELINES and r.id in measured
                      and (r.encoder, r.dataset) == (ours.encoder, ours.dataset)):
            seeds = sorted(set(measured[ours.id]) & set(measured[other.id]), key=lambda s: (s is None, s))
            if not seeds:
                continue
            lines = []
            for cls in measured[ours.id][seeds[0]]:
                a = [measured[ours.id][s].get(cls) for s in seeds]
                b = [measured[other.id][s].get(cls) for s in seeds]
                if any(v is None for v in a + b):
                    continue  # absent from the labels and predictions of some run: no IoU to compare
                lines.append(dict(cls=cls, ours=sum(a) / len(a), baseline=sum(b) / len(b)))
            frame = pd.DataFrame(lines, columns=['cls', 'ours', 'baseline'])
            frame['diff'] = frame['ours'] - frame['baseline']
            frame = frame.sort_values('diff', ascending=False, kind='stable').reset_index(drop=True)
            pairs.append(dict(label=f'{ours.method} vs {other.method} ({ours.encoder}, {ours.dataset})',
                              ours=ours.id, baseline=other.id, seeds=seeds, frame=frame))
    return pairs


def gains_and_losses(frame: pd.DataFrame, n: int = SHOWN) -> Dict[str, list]:
    """The ``n`` classes with the largest gain and the largest loss (diff > 0 / < 0)."""
    gains = frame[frame['diff'] > 0].head(n)
    losses = frame[frame['diff'] < 0].sort_values('diff', kind='stable').head(n)
    return {k: [dict(cls=r.cls, ours=r.ours, baseline=r.baseline, diff=r.diff) for r in d.itertuples()]
            for k, d in (('gains', gains), ('losses', losses))}
