"""Training curves from mmengine's scalar logs: every ``vis_data/scalars.json`` a
training's run folder holds (one per start: a resumed run adds one), read as JSON lines,
never parsed out of the text logs. Training lines give the loss at ``iter``; validation
lines (``mIoU`` at ``step``) the mIoU during training."""
import glob
import json
import os
import pandas as pd

from analysis.results import TableResults

COLUMNS = ['row', 'seed', 'iter', 'loss', 'miou', 'status']


def read_scalars(work_dir: str) -> pd.DataFrame:
    """(iter, loss, miou) of one run folder; a later start's line replaces an earlier one's."""
    points = {}
    for path in sorted(glob.glob(os.path.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            for line in f:
                try:
                    d = json.loads(line)
                except ValueError:
                    continue  # a line cut by a kill
                if 'loss' in d and 'iter' in d:
                    points.setdefault(int(d['iter']), {})['loss'] = float(d['loss'])
                elif 'mIoU' in d and 'step' in d:
                    points.setdefault(int(d['step']), {})['miou'] = float(d['mIoU'])
    return pd.DataFrame([dict(iter=i, loss=p.get('loss'), miou=p.get('miou')) for i, p in sorted(points.items())],
                        columns=['iter', 'loss', 'miou'])


def training_curves(results: TableResults, stage: str) -> pd.DataFrame:
    """One line per logged point of every ``stage`` task of the results (a training: any
    state, a failed or interrupted run shows where it stopped), with its row, seed and state."""
    frames = []
    for t, rec in results.stage_records(stage):
        curve = read_scalars(results.store.work_dir(t.key))
        if curve.empty:
            continue
        curve.insert(0, 'seed', t.seed)
        curve.insert(0, 'row', t.row.id)
        curve['status'] = rec.status if rec else 'no record'
        frames.append(curve)
    return pd.concat(frames, ignore_index=True)[COLUMNS] if frames else pd.DataFrame(columns=COLUMNS)
