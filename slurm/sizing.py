"""``--time`` from measured speed: a job asks for what its task needs (a shorter limit is
scheduled sooner: backfill), and a training longer than the limit is planned as requeue
segments (each saves a checkpoint at the time-limit warning and resumes in seconds,
``experiments.engine.plugins.resume``)."""
import math
from dataclasses import dataclass
from typing import Optional

# per job: start-up (environment, data check, model build, checkpoint load) and the save
# at the warning; and the margin on a calibration (it feeds tensors: the loader, logging
# and checkpoints are not in it)
SEGMENT_OVERHEAD_S = 600
MARGIN = 1.2
ROUND_S = 300  # limits in whole 5 minutes


def time_text(seconds: int) -> str:
    """Seconds as SLURM's D-HH:MM:SS (HH:MM:SS under a day)."""
    days, rest = divmod(int(seconds), 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return (f'{days}-' if days else '') + f'{h:02d}:{m:02d}:{s:02d}'


@dataclass(frozen=True)
class Sizing:
    time_s: int  # the --time of each job
    segments: int  # jobs (1 + requeues) the task is planned to take
    projected_s: float  # the calibration's projection, without margin
    fits: bool  # a stage without checkpoints fits in one job

    @property
    def requeues(self) -> int:
        return self.segments - 1


def size(projected_s: float, limit_s: int, signal_s: int, resumable: bool) -> Sizing:
    """The --time and segments of a task projected to take ``projected_s`` under a limit of
    ``limit_s`` (the profile's time, capped by the partition's MaxTime); ``signal_s``: the
    warning before the limit, at which a segment checkpoints and stops."""
    need = projected_s * MARGIN + SEGMENT_OVERHEAD_S
    if need <= limit_s:
        return Sizing(min(limit_s, int(math.ceil(need / ROUND_S) * ROUND_S)), 1, projected_s, True)
    if not resumable:
        return Sizing(limit_s, 1, projected_s, False)
    usable = limit_s - signal_s - SEGMENT_OVERHEAD_S
    if usable <= 0:
        return Sizing(limit_s, 1, projected_s, False)
    return Sizing(limit_s, int(math.ceil(projected_s * MARGIN / usable)), projected_s, True)


def warns(sz: Sizing, max_requeue: Optional[int] = None) -> bool:
    """Whether the sizing is a warning: a stage without checkpoints that does not fit, or
    more requeues than the cluster's MaxBatchRequeue (after which it holds the job)."""
    return not sz.fits or (max_requeue is not None and sz.requeues > max_requeue)


def describe(sz: Sizing, device: str, limit_s: int, max_requeue: Optional[int] = None) -> str:
    """One line for the script and the plan: what the projection is and what it asks."""
    text = (f'projected {sz.projected_s / 3600:.2f} h on {device} (calibrated; x{MARGIN} and '
            f'{SEGMENT_OVERHEAD_S // 60} min per job added): --time={time_text(sz.time_s)}')
    if not sz.fits:
        return text + f', LONGER than the limit {time_text(limit_s)} and this stage keeps no checkpoint'
    if sz.segments > 1:
        text += f', {sz.segments} segments ({sz.requeues} requeue(s) at the limit, resumed from the checkpoint)'
        if max_requeue is not None and sz.requeues > max_requeue:
            text += f', MORE than the cluster\'s MaxBatchRequeue={max_requeue}'
    return text
