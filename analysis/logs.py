"""A training beside a published log (``run-experiment compare RUNS LOG``): the loss and
learning rate per iteration of a store's training beside those of an mmengine/mmseg log as
the authors or mmsegmentation's model zoo publish them (mmseg 0.x ``*.log.json`` lines with
``"mode": "train"``, or mmengine's ``vis_data/scalars.json``), with the first iteration
where the learning rate differs and the first where the loss leaves the log's band; what
people do by hand in the field's reproduction threads ("the learning rate stopped
decreasing at 1e-5")."""
import glob
import json
import math
import os
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

# the learning rates differ where they differ by more than this, relatively
LR_RTOL = 1e-3
# the log's band around its loss: this many logged points either side, and this many
# standard deviations of the loss there (at least BAND_MIN of its mean)
BAND_POINTS, BAND_STD, BAND_MIN = 5, 3.0, 0.05
# the "mode" of an mmseg 0.x log line of a training iteration (validation lines: "val")
LOG_TRAINING_MODE = 'train'


def _points(lines: Iterable[str]) -> Dict[int, Dict[str, float]]:
    points: Dict[int, Dict[str, float]] = {}
    for line in lines:
        try:
            d = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill, or a text line
        if not isinstance(d, dict) or 'iter' not in d or d.get('mode', LOG_TRAINING_MODE) != LOG_TRAINING_MODE:
            continue
        p = points.setdefault(int(d['iter']), {})
        for name in ('loss', 'lr'):
            if isinstance(d.get(name), (int, float)):
                p[name] = float(d[name])
    return {i: p for i, p in points.items() if p}


def read_log(path: str) -> Dict[int, Dict[str, float]]:
    """iter -> {loss, lr} of a log file (mmseg 0.x ``*.log.json`` or mmengine ``scalars.json``)."""
    with open(path, errors='replace') as f:
        points = _points(f)
    if not points:
        raise ValueError(f'{path} holds no training line with "iter" and "loss" or "lr" (an mmseg *.log.json '
                         'or an mmengine vis_data/scalars.json is read)')
    return points


def read_run(work_dir: str) -> Dict[int, Dict[str, float]]:
    """iter -> {loss, lr} of a training's run folder (every start's scalars.json; a later
    start's line replaces an earlier one's)."""
    points: Dict[int, Dict[str, float]] = {}
    for path in sorted(glob.glob(os.path.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path, errors='replace') as f:
            points.update(_points(f))
    return points


@dataclass
class LogComparison:
    iters: List[int]  # the iterations both log
    lr_differs_at: Optional[int]
    lr_ours: Optional[float]
    lr_theirs: Optional[float]
    loss_leaves_at: Optional[int]
    loss_ours: Optional[float]
    band: Optional[tuple]

    def lines(self) -> List[str]:
        out = [f'{len(self.iters)} iterations logged by both (from {self.iters[0]} to {self.iters[-1]})'
               if self.iters else 'no iteration logged by both']
        if self.lr_differs_at is None:
            out.append('learning rate: the same at every common iteration')
        else:
            out.append(f'learning rate: first differs at iteration {self.lr_differs_at} '
                       f'({self.lr_ours:.4g} here, {self.lr_theirs:.4g} in the log)')
        if self.loss_leaves_at is None:
            out.append('loss: within the log\'s band at every common iteration')
        else:
            lo, hi = self.band
            out.append(f'loss: first leaves the log\'s band at iteration {self.loss_leaves_at} '
                       f'({self.loss_ours:.4g} here, band [{lo:.4g}, {hi:.4g}])')
        return out


def compare_log(ours: Dict[int, Dict[str, float]], theirs: Dict[int, Dict[str, float]]) -> LogComparison:
    common = sorted(set(ours) & set(theirs))
    lr_at = lr_a = lr_b = None
    for i in common:
        a, b = ours[i].get('lr'), theirs[i].get('lr')
        if a is not None and b is not None and abs(a - b) > LR_RTOL * max(abs(a), abs(b), 1e-12):
            lr_at, lr_a, lr_b = i, a, b
            break
    logged = sorted(i for i in theirs if 'loss' in theirs[i])
    loss_at = loss_a = band = None
    for i in common:
        if 'loss' not in ours[i] or i not in logged:
            continue
        k = logged.index(i)
        near = [theirs[j]['loss'] for j in logged[max(0, k - BAND_POINTS):k + BAND_POINTS + 1]]
        mean = sum(near) / len(near)
        std = math.sqrt(sum((v - mean) ** 2 for v in near) / len(near))
        half = max(BAND_STD * std, BAND_MIN * abs(mean))
        if abs(ours[i]['loss'] - mean) > half:
            loss_at, loss_a, band = i, ours[i]['loss'], (mean - half, mean + half)
            break
    return LogComparison(common, lr_at, lr_a, lr_b, loss_at, loss_a, band)


def log_figure(ours: Dict[int, Dict[str, float]], theirs: Dict[int, Dict[str, float]], result: LogComparison,
               ours_label: str, theirs_label: str) -> bytes:
    """Loss and learning rate per iteration, both runs, the first differences marked (PNG)."""
    import io

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7.5, 6), sharex=True)
    for points, label, style in ((theirs, theirs_label, '-'), (ours, ours_label, '--')):
        for ax, name in ((ax1, 'loss'), (ax2, 'lr')):
            xs = [i for i in sorted(points) if name in points[i]]
            ax.plot(xs, [points[i][name] for i in xs], style, label=label)
    if result.loss_leaves_at is not None:
        ax1.axvline(result.loss_leaves_at, color='red', alpha=0.5)
    if result.lr_differs_at is not None:
        ax2.axvline(result.lr_differs_at, color='red', alpha=0.5)
    ax1.set_ylabel('loss')
    ax2.set_ylabel('learning rate')
    ax2.set_xlabel('iteration')
    ax1.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=110)
    plt.close(fig)
    return buf.getvalue()
